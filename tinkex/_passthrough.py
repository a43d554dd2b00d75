"""What the generated pass-through methods (``tinkex/_generated_clients.py``) stand on.

A method generated from an operation's ``sdk.client`` entry calls the
low-level API method on the client's threads and returns a future of the
answer; its ``*_async`` twin awaits that future (the method itself only
schedules work, so the twin calls it directly).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from tinkex._api import TinkerAPI
from tinkex._twins import Offloads, awaiting
from tinkex.core.apifuture import APIFuture

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=Offloads)


class PassThrough(Offloads):
    """A client whose generated methods call the low-level API in the background."""

    @property
    def _api(self) -> TinkerAPI:
        """The low-level API client of this client's context (typed by ``_api.pyi``)."""
        return self._ctx.api

    def _run(self, fn: Callable[..., T], **kwargs: Any) -> APIFuture[T]:
        return self._ctx.in_background(fn, **kwargs)


def async_twin(fn: Callable[Concatenate[C, P], APIFuture[T]]
               ) -> Callable[Concatenate[C, P], Coroutine[Any, Any, T]]:
    """The ``*_async`` twin of a generated method."""
    return awaiting(fn, offload=False)
