"""The official SDK's module paths under ``types`` (``tinker.types.tensor_data``, ...).

Scripts import types from those modules (``from tinker.types.tensor_data import
TensorData``). Here every such module is a view of the whole ``tinkex.types``
namespace, registered in ``sys.modules`` when ``tinkex.types`` is imported: the
name of each module is the snake_case name of a type it holds, plus a few
modules named after a topic. Nothing is copied; the classes stay where they are.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Mapping
from typing import Any

TOPIC_MODULES = ("billing_usage_request", "current_checkpoint_storage_usage_request",
                 "generic_event", "optimizer", "shared", "topk_logprobs", "try_again_response")
"""Official module names that are not the snake_case name of a type."""

_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``ModelID`` -> ``model_id``, ``SampleResponse`` -> ``sample_response``."""
    return _WORD.sub("_", name).lower()


class TypesView(types.ModuleType):
    """A module whose attributes are those of the ``types`` package it views."""

    def __init__(self, name: str, package: types.ModuleType) -> None:
        super().__init__(name, f"Types of the official module path {name}; see {package.__name__}.")
        self._package = package

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._package, name)

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._package) if not isinstance(getattr(self._package, n, None),
                                                                  types.ModuleType)]


def install(package: types.ModuleType, namespace: Mapping[str, Any]) -> None:
    """Register ``<package>.<module>`` for every type name in ``namespace`` and every topic."""
    names = {snake_case(n) for n, obj in namespace.items()
             if n[:1].isupper() and not isinstance(obj, types.ModuleType)}
    for module in sorted(names | set(TOPIC_MODULES)):
        if module in namespace:
            continue
        view = TypesView(f"{package.__name__}.{module}", package)
        sys.modules.setdefault(view.__name__, view)
        setattr(package, module, sys.modules[view.__name__])
