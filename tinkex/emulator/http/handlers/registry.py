"""The handler registry: one handler per ``operationId``, registered with :func:`handles`.

A handler takes the :class:`~tinkex.emulator.http.services.Services` and a
:class:`Call` (owner, validated body, parameters, raw request) and returns a
pydantic model, a JSON value, ``None`` or a Starlette response; it may be a
coroutine (long polls). An operation of the document without a handler is
answered with 501 naming it (:func:`unserved` lists them); a handler without an
operation makes start-up fail (:func:`check_registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

if TYPE_CHECKING:
    from tinkex.core.model import Operation

    from ..auth import Identity
    from ..services import Services


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


def unserved(operations: Iterable[Operation]) -> list[str]:
    """The operations of the document that no handler serves (each answers 501)."""
    return sorted({op.id for op in operations} - set(HANDLERS))


def check_registry(operations: Iterable[Operation]) -> None:
    """Fail loudly if a handler serves an operation the document does not have."""
    extra = sorted(set(HANDLERS) - {op.id for op in operations})
    if extra:
        raise RuntimeError(f"emulator handlers do not match the API document: "
                           f"no operation for {extra}")
