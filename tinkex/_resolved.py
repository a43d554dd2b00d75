"""Clients that are also their own (already resolved) futures.

The official SDK 0.38 returns a *future* of a client from ``create_*`` methods,
and scripts either ``await`` it or call ``.result()`` on it; older scripts use
the return value as the client directly. tinkex creation methods block and
return the client itself, which also answers the future protocol by resolving
to itself, so all three styles work with the very same object.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Generator
from typing import Any, TypeVar

C = TypeVar("C", bound="ResolvedClient")


class ResolvedClient:
    """``result()``, ``await``, ``result_async()``, ``future()`` and ``coroutine()`` give ``self``."""

    def result(self: C, timeout: float | None = None) -> C:
        """This client (it is created already; ``timeout`` is accepted for compatibility)."""
        return self

    async def result_async(self: C, timeout: float | None = None) -> C:
        return self

    def __await__(self: C) -> Generator[Any, None, C]:
        return self.result_async().__await__()

    async def coroutine(self: C) -> C:
        return self

    def future(self: C) -> concurrent.futures.Future[C]:
        """A ``concurrent.futures.Future`` already resolved with this client."""
        future: concurrent.futures.Future[C] = concurrent.futures.Future()
        future.set_result(self)
        return future
