"""The dataclass protocol for the types that SDK 0.38 defines as dataclasses.

Scripts call ``dataclasses.replace(datum, loss_fn_inputs=...)``, ``fields`` and
``asdict`` on a ``Datum``, a ``TensorData``, a ``SampledSequence``, ... Here those
types stay pydantic models (the engine, the emulator and the protobuf codec
validate and serialise them as models), and they also carry the
``__dataclass_fields__`` that the ``dataclasses`` functions read, made by
``dataclasses.make_dataclass`` from the model's fields when first read (so
importing the types costs nothing for it). ``replace`` builds the copy through
the model's constructor, so it is validated like any other.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

OFFICIAL_DATACLASSES = ("Datum", "TensorData", "SampledSequence", "SampleResponse",
                        "ForwardBackwardOutput", "ForwardBackwardInput", "ForwardBackwardRequest",
                        "ForwardRequest", "PromptAltTokens")


def _field(info: Any) -> Any:
    if info.is_required():
        return dataclasses.field(kw_only=True)
    if info.default_factory is not None:
        return dataclasses.field(default_factory=info.default_factory, kw_only=True)
    default = info.default
    if type(default).__hash__ is None:  # dataclasses refuse mutable defaults; copy per use
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), kw_only=True)
    return dataclasses.field(default=default, kw_only=True)


def _shadow(cls: type[BaseModel]) -> Any:
    spec = [(name, info.annotation or Any, _field(info)) for name, info in cls.model_fields.items()]
    return dataclasses.make_dataclass(cls.__name__, spec, init=False, repr=False, eq=False)


class _OnFirstRead:
    """A class attribute computed from the model's fields when it is first read, then kept."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type[BaseModel]) -> Any:
        shadow = _shadow(owner)
        for name in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(owner, name, getattr(shadow, name))
        return getattr(owner, self.name)


def speak_dataclass(cls: type[BaseModel]) -> None:
    """Give the model ``cls`` the fields ``dataclasses.fields/replace/asdict`` look for."""
    for name in ("__dataclass_fields__", "__dataclass_params__"):
        type.__setattr__(cls, name, _OnFirstRead(name))


def install(namespace: Mapping[str, Any]) -> None:
    for name in OFFICIAL_DATACLASSES:
        speak_dataclass(namespace[name])
