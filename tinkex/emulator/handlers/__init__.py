"""Handlers, one per ``operationId``, registered with :func:`handles`.

A handler takes the :class:`~tinkex.emulator.services.Services` and a
:class:`Call` (owner, validated body, parameters, raw request) and returns a
pydantic model, a JSON value, ``None`` or a Starlette response; it may be a
coroutine (long polls). :func:`check_registry` makes start-up fail when the
document and the registry disagree, so a new operation cannot go unserved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

if TYPE_CHECKING:
    from ..auth import Identity
    from ..services import Services
    from ..spec import Operation


@dataclass(frozen=True)
class Call:
    owner: str
    params: dict[str, Any]
    body: Any
    request: Request
    identity: Identity | None = None
    """The authenticated caller (None only for operations without auth)."""

    @property
    def who(self) -> Identity:
        assert self.identity is not None, "an operation with auth always has an identity"
        return self.identity


Handler = Callable[["Services", Call], Any]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if operation_id in HANDLERS:
            raise RuntimeError(f"two handlers for operation {operation_id!r}")
        HANDLERS[operation_id] = fn
        return fn

    return register


RawCheck = Callable[[Any], None]
RAW_CHECKS: dict[str, RawCheck] = {}
"""Checks of a JSON body before it is validated, for errors clearer than a 422."""


def checks_raw(operation_id: str) -> Callable[[RawCheck], RawCheck]:
    def register(fn: RawCheck) -> RawCheck:
        RAW_CHECKS[operation_id] = fn
        return fn

    return register


def check_registry(operations: Iterable[Operation]) -> None:
    """Fail loudly if an operation has no handler or a handler has no operation."""
    ids = {op.operation_id for op in operations}
    missing = sorted(ids - set(HANDLERS))
    extra = sorted(set(HANDLERS) - ids)
    if missing or extra:
        raise RuntimeError(f"emulator handlers do not match the API document: "
                           f"no handler for {missing}, no operation for {extra}")


# Registration happens on import.
from . import (  # noqa: E402,F401
    admin,
    auth,
    custom_loss,
    futures,
    rest,
    sampling,
    service,
    sessions,
    training,
    weights,
)
