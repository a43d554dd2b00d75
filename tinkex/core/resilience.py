"""The resilience stack: what every attempt goes through between the retry loop and the transport.

Outermost to innermost, for each attempt of a logical request::

    retry loop (retry.py)                 decides whether and when to try again
      └ admission (limits.py)             the operation's dispatch limit, if it has one
          └ shared rate limiter           waits out a backoff window of this API key
              └ circuit breaker           fails fast while the pool/operation's breaker is open
                  └ transport             one HTTP exchange

Each attempt's result is read once, by the classifier (``classify.py``), and
that one reading feeds every layer: a rate-limit answer opens the key's shared
window (ratelimit.py), a backpressure status tightens the dispatch limit, a
server failure counts against the breaker (breaker.py), and the retry loop
retries by the same rules. Waiting for admission or for the rate limiter
happens per attempt, so a request sleeping before its retry holds no slot.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .breaker import CircuitBreaker
from .classify import Answer, classify
from .errors import APIConnectionError
from .model.operations import Operation, OperationTable
from .ratelimit import PROCESS_RATE_LIMITERS, RateLimiterRegistry, SharedRateLimiter
from .retry import StatusSet

if TYPE_CHECKING:
    from .engine import Dispatcher

_NO_STATUSES = StatusSet()
_A = TypeVar("_A", bound=Answer)


class ResilienceStack:
    """The layers around the transport for one engine (the rate limiter is shared per key)."""

    def __init__(self, table: OperationTable, *, base_url: str, api_key: str | None,
                 breakers_enabled: bool | None = None,
                 rate_limiters: RateLimiterRegistry = PROCESS_RATE_LIMITERS,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table = table
        self._clock = clock
        self._sleep = sleep
        spec = table.rate_limit
        self.rate_limiter: SharedRateLimiter | None = (
            rate_limiters.for_key(base_url, api_key) if spec is not None else None)
        self._throttle = spec.statuses if spec is not None else _NO_STATUSES
        self.breakers: dict[str, CircuitBreaker] = {}
        """Every breaker in use, by what it guards (``pool train``, ``operation get_pet``)."""
        self._breaker_of: dict[str, CircuitBreaker | None] = {}
        for op in table:
            self._breaker_of[op.id] = self._make_breaker(op, breakers_enabled)

    def _make_breaker(self, op: Operation, enabled: bool | None) -> CircuitBreaker | None:
        if op.circuit_breaker is None:
            return None
        spec = self.table.circuit_breakers[op.circuit_breaker]
        if not (spec.enabled if enabled is None else enabled):
            return None
        key = f"pool {op.pool}" if spec.scope == "pool" else f"operation {op.id}"
        breaker = self.breakers.get(key)
        if breaker is None or breaker.spec != spec:
            breaker = self.breakers[key] = CircuitBreaker(spec, key, self._clock)
        return breaker

    def breaker_for(self, op: Operation) -> CircuitBreaker | None:
        return self._breaker_of.get(op.id)

    def attempt(self, op: Operation, send: Callable[[], _A], body_bytes: int,
                dispatcher: Dispatcher | None, describe: str) -> _A:
        """One attempt through admission, the rate limiter and the breaker; the response."""
        admission: contextlib.AbstractContextManager[Any] = (
            dispatcher.acquire(op, body_bytes) if dispatcher is not None and op.dispatch
            else contextlib.nullcontext())
        with admission:
            limiter = self.rate_limiter
            if limiter is not None and op.rate_limited:
                limiter.wait(self._clock, self._sleep)
            breaker = self._breaker_of.get(op.id)
            if breaker is not None:
                breaker.before(describe)
            verdict: bool | None = None
            try:
                try:
                    response = send()
                except APIConnectionError as exc:
                    verdict = classify(None, exc, throttle=self._throttle,
                                       failures=_NO_STATUSES).failure
                    raise
                outcome = classify(response, throttle=self._throttle,
                                   failures=breaker.spec.failure_statuses if breaker
                                   else _NO_STATUSES)
                verdict = None if outcome.throttled else outcome.failure
                if outcome.throttled and limiter is not None:
                    spec = self.table.rate_limit
                    assert spec is not None
                    limiter.pause(spec.window(outcome.retry_after), self._clock)
                if dispatcher is not None and op.dispatch:
                    dispatcher.note_status(op, response.status)
                return response
            finally:
                if breaker is not None:
                    breaker.record(verdict)

    def breaker_states(self) -> Mapping[str, str]:
        """``{what it guards: state}`` of every breaker."""
        return {key: breaker.state for key, breaker in self.breakers.items()}

    def reset_after_fork(self) -> None:
        for breaker in self.breakers.values():
            breaker.reset_after_fork()
