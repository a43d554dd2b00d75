"""Modules that only some calls need, imported by the first call that needs them.

``import tinkex`` stays cheap: numpy, protobuf and zstandard cost more to import
than requests itself, and a script that only samples never touches most of them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    import numpy as np


class LazyModule(types.ModuleType):
    """Stands for the module ``name``; the first attribute read imports it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._target: types.ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "_target":
            raise AttributeError(attr)
        target = self._target
        if target is None:
            target = self._target = importlib.import_module(self.__name__)
        return getattr(target, attr)


def is_ndarray(value: Any) -> TypeGuard[np.ndarray]:
    """Whether ``value`` is a numpy array, without importing numpy (no array exists without it)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def is_numpy_integer(value: Any) -> bool:
    """Whether ``value`` is a numpy integer scalar, without importing numpy."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.integer)
