"""Print the public surface of an SDK package as JSON: ``python surface.py tinker``.

Run by the official SDK's interpreter (its cached venv) and by ours, so that
``test_surface.py`` can compare the two. Standard library only; it imports
nothing but the package it describes.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import json
import sys
import types
from typing import Any

CLIENTS = ("ServiceClient", "TrainingClient", "SamplingClient", "RestClient", "AdminClient",
           "APIFuture")
"""Classes whose methods and parameters are compared one by one."""

MODULE_PATHS = ("lib.public_interfaces", "auth")
"""Submodules (besides ``types.*``) whose public names scripts import."""


def _public(obj: Any) -> list[str]:
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def _param(p: inspect.Parameter) -> dict[str, Any]:
    default = None if p.default is inspect.Parameter.empty else repr(p.default)
    return {"name": p.name, "kind": p.kind.name, "default": default}


def _method(obj: Any) -> dict[str, Any]:
    target = obj.fget if isinstance(obj, property) else obj
    info: dict[str, Any] = {"kind": "property" if isinstance(obj, property) else "method",
                            "coroutine": inspect.iscoroutinefunction(target)}
    try:
        info["params"] = [_param(p) for p in inspect.signature(target).parameters.values()]
    except (TypeError, ValueError):
        info["params"] = None
    return info


def _members(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _public(cls):
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, classmethod):
            raw = getattr(cls, name)  # bound: its signature has no cls
        elif isinstance(raw, staticmethod):
            raw = raw.__func__
        if callable(raw) or isinstance(raw, property):
            out[name] = _method(raw)
        else:
            out[name] = {"kind": "attribute"}
    return out


def _type_info(cls: type) -> dict[str, Any]:
    if dataclasses.is_dataclass(cls):
        fields = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    else:
        fields = sorted(getattr(cls, "model_fields", {}) or {})
    members = _public(cls)
    if isinstance(cls, enum.EnumMeta):  # aliases of members are not in dir()
        members = sorted(set(members) | set(cls.__members__))
    return {"dataclass": dataclasses.is_dataclass(cls), "fields": fields, "members": members}


def describe(package: str) -> dict[str, Any]:
    pkg = importlib.import_module(package)
    types_mod = importlib.import_module(f"{package}.types")
    out: dict[str, Any] = {"top": _public(pkg), "types": _public(types_mod), "classes": {},
                           "type_classes": {}, "modules": {}}
    for name in CLIENTS:
        cls = getattr(pkg, name, None)
        if isinstance(cls, type):
            out["classes"][name] = _members(cls)
    for name in out["types"]:
        obj = getattr(types_mod, name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            out["type_classes"][name] = _type_info(obj)
        elif isinstance(obj, types.ModuleType):
            exported = set(out["types"])
            out["modules"][f"types.{name}"] = sorted(n for n in _public(obj) if n in exported)
    for path in MODULE_PATHS:
        try:
            module = importlib.import_module(f"{package}.{path}")
        except ImportError:
            continue
        out["modules"][path] = sorted(getattr(module, "__all__", _public(module)))
    return out


if __name__ == "__main__":
    json.dump(describe(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
