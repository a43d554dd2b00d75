"""The rate limiter shared by every client of one API key in the process.

When the server answers an attempt with a rate-limit status (``x-tinkex-rate-limit``:
429 for most APIs), it is telling the *key* to slow down, not one connection.
So the backoff window it asks for (its ``Retry-After``, else ``default_seconds``,
at most ``max_seconds``) is shared: every client of the same base URL and key in
this process waits for the window to pass before its next attempt. Clients
are keyed by a digest of the key, so the registry never holds the key itself.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .retry import StatusSet


@dataclass(frozen=True)
class RateLimitSpec:
    """``x-tinkex-rate-limit``: which statuses mean "slow down", and how long by default."""

    statuses: StatusSet
    default_seconds: float
    max_seconds: float

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> RateLimitSpec | None:
        if not spec:
            return None
        return cls(StatusSet.of(spec["statuses"]), float(spec["default_seconds"]),
                   float(spec["max_seconds"]))

    def window(self, retry_after: float | None) -> float:
        """Seconds to hold every client of the key after a rate-limit answer."""
        wanted = retry_after if retry_after is not None and retry_after > 0 else self.default_seconds
        return min(wanted, self.max_seconds)


class SharedRateLimiter:
    """One backoff window (a deadline on the monotonic clock); thread-safe."""

    def __init__(self) -> None:
        self._until = float("-inf")
        self._lock = threading.Lock()

    def pause(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Hold every client of the key for ``seconds`` from now (a longer window stays)."""
        until = clock() + seconds
        with self._lock:
            if until > self._until:
                self._until = until

    def remaining(self, clock: Callable[[], float] = time.monotonic) -> float:
        return max(0.0, self._until - clock())

    def wait(self, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> float:
        """Block until the window has passed (it may grow meanwhile); the seconds waited."""
        waited = 0.0
        while (left := self.remaining(clock)) > 0:
            sleep(left)
            waited += left
        return waited

    def clear(self) -> None:
        with self._lock:
            self._until = float("-inf")

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()


class RateLimiterRegistry:
    """The limiters of one process (or of one test), by base URL and key digest."""

    def __init__(self) -> None:
        self._limiters: dict[str, SharedRateLimiter] = {}
        self._lock = threading.Lock()

    def for_key(self, base_url: str, api_key: str | None) -> SharedRateLimiter:
        digest = hashlib.sha256(f"{base_url}\0{api_key or ''}".encode()).hexdigest()
        with self._lock:
            limiter = self._limiters.get(digest)
            if limiter is None:
                limiter = self._limiters[digest] = SharedRateLimiter()
            return limiter

    def _after_fork(self) -> None:
        # A parent thread may have held a lock at fork(): the child starts with fresh ones.
        self._lock = threading.Lock()
        for limiter in self._limiters.values():
            limiter._reset_lock()


PROCESS_RATE_LIMITERS = RateLimiterRegistry()
"""Shared by every engine of this process unless it is given its own registry."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=PROCESS_RATE_LIMITERS._after_fork)
