"""Circuit breakers: stop sending to a pool (or an operation) that keeps failing.

A breaker is *closed* (calls pass) until ``failure_threshold`` attempts in a
row failed on the server's side (no response, or a ``failure_statuses``
status). It then *opens*: attempts fail at once with
:class:`~tinkex.core.errors.CircuitOpenError`, sparing a struggling server the
load, for ``reset_seconds``. Then it is *half-open*: up to
``half_open_max_calls`` trial attempts go through; a success closes it, a
failure opens it again. Answers that are neither (a 4xx such as 429) leave the
count unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CircuitOpenError
from .retry import StatusSet

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerSpec:
    """One entry of ``x-tinkex-circuit-breakers``."""

    name: str
    failure_threshold: int
    reset_seconds: float
    half_open_max_calls: int
    failure_statuses: StatusSet
    scope: str
    """``pool``: one breaker per pool; ``operation``: one per operation."""
    enabled: bool
    """Off unless the client turns breakers on (``circuit_breaker=True``)."""

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> BreakerSpec:
        return cls(name, int(spec["failure_threshold"]), float(spec["reset_seconds"]),
                   int(spec.get("half_open_max_calls", 1)),
                   StatusSet.of(spec.get("failure_statuses", ["5XX"])),
                   spec.get("scope", "pool"), bool(spec.get("enabled", True)))


class CircuitBreaker:
    """The state machine of one breaker; thread-safe."""

    def __init__(self, spec: BreakerSpec, key: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.key = key
        """What it guards: ``pool <name>`` or ``operation <id>``."""
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0

    @property
    def state(self) -> str:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def _maybe_half_open(self) -> None:
        if self._state == OPEN and self._clock() - self._opened_at >= self.spec.reset_seconds:
            self._state, self._trials = HALF_OPEN, 0

    def before(self, what: str) -> None:
        """Admit one attempt, or raise CircuitOpenError (``what`` names the call in the message)."""
        with self._lock:
            self._maybe_half_open()
            if self._state == CLOSED:
                return
            if self._state == HALF_OPEN and self._trials < self.spec.half_open_max_calls:
                self._trials += 1
                return
            wait = max(0.0, self._opened_at + self.spec.reset_seconds - self._clock())
            state = "open" if self._state == OPEN else "half-open, its trial call in flight"
            raise CircuitOpenError(
                f"{what}: not sent, circuit breaker {self.spec.name!r} of {self.key} is {state} "
                f"after {self.spec.failure_threshold} failures in a row; a trial call goes "
                f"through in {wait:.1f} s",
                breaker=f"{self.spec.name} ({self.key})", retry_after=wait)

    def record(self, failure: bool | None) -> None:
        """The admitted attempt's outcome: True failed, False succeeded, None neither."""
        with self._lock:
            if self._state == HALF_OPEN:
                self._trials = max(0, self._trials - 1)
                if failure:
                    self._open()
                elif failure is False:
                    self._state, self._failures = CLOSED, 0
                return
            if failure:
                self._failures += 1
                if self._state == CLOSED and self._failures >= self.spec.failure_threshold:
                    self._open()
            elif failure is False:
                self._failures = 0

    def _open(self) -> None:
        self._state, self._opened_at, self._trials = OPEN, self._clock(), 0

    def reset(self) -> None:
        with self._lock:
            self._state, self._failures, self._trials = CLOSED, 0, 0

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._trials = 0
