"""The emulator's view of the compiled document: one :class:`Operation` per path and method.

Routes, parameter checks and request models all come from
``tinkex/_spec/openapi.json`` (the document the SDK is built from), so a change
to the manifest reaches the server through ``make regen`` like it reaches the
client; the handler registry is then checked against this table at start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from tinkex import types as T

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Param:
    """A path or query parameter with its (resolved) JSON schema."""

    name: str
    location: str
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    params: tuple[Param, ...]
    body_model: type[BaseModel] | None
    auth: bool


@lru_cache(maxsize=1)
def document_bytes() -> bytes:
    """The compiled OpenAPI document exactly as shipped (served at ``/openapi.json``)."""
    return resources.files("tinkex._spec").joinpath("openapi.json").read_bytes()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Inline a top-level ``$ref`` (parameter schemas refer to enums such as AccessScope)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(doc, target), **{k: v for k, v in schema.items() if k != "$ref"}}


def _body_model(op: dict[str, Any]) -> type[BaseModel] | None:
    content = op.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    if ref is None:
        return None
    model = getattr(T, ref.rsplit("/", 1)[-1])
    assert isinstance(model, type) and issubclass(model, BaseModel), ref
    return model


@lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    """Every operation of the document, in document order."""
    doc = json.loads(document_bytes())
    default_auth = bool(doc.get("security"))
    out = []
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = tuple(
                Param(p["name"], p["in"], _resolve(doc, p.get("schema", {})),
                      bool(p.get("required", p["in"] == "path")))
                for p in [*item.get("parameters", []), *op.get("parameters", [])]
                if p["in"] in ("path", "query"))
            security = op.get("security")
            out.append(Operation(
                operation_id=op["operationId"], method=method.upper(), path=path,
                params=params, body_model=_body_model(op),
                auth=default_auth if security is None else bool(security)))
    return tuple(out)
