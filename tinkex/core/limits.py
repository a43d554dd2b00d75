"""Admission control: counting and byte budgets, and dispatch limits with backoff penalties.

``requests`` never applies a pool timeout, so concurrency is bounded here, with
blocking acquires that take a timeout. A dispatch limit (``x-tinkex-dispatch-limits``)
combines both budgets for one class of operations and, after the server signals
backpressure, tightens them for a while so a burst of retries does not trigger
the same backpressure again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tinkex.core.model.document import DispatchLimitSpec
from tinkex.core.model.operations import Operation

if TYPE_CHECKING:
    from tinkex.core.engine import Engine

Clock = Callable[[], float]


class ByteBudget:
    """A pool of ``capacity`` units that callers reserve in amounts and give back.

    A request larger than the whole budget is admitted alone (when nothing else
    is held) instead of waiting for ever: one oversized payload must still be
    able to go through.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        """Units currently held."""
        return self._used

    def _fits(self, amount: int) -> bool:
        return self._used == 0 or self._used + amount <= self.capacity

    def try_acquire(self, amount: int) -> bool:
        """Reserve ``amount`` now if it fits; never blocks."""
        return self.acquire(amount, timeout=0)

    def acquire(self, amount: int, timeout: float | None = None) -> bool:
        """Block until ``amount`` fits (or ``timeout`` seconds pass); return whether it was taken."""
        if amount < 0:
            raise ValueError("amount must not be negative")
        with self._cond:
            if not self._cond.wait_for(lambda: self._fits(amount), timeout):
                return False
            self._used += amount
            return True

    def release(self, amount: int) -> None:
        """Give back ``amount`` units taken by :meth:`acquire`."""
        with self._cond:
            if amount > self._used:
                raise ValueError("releasing more than is held")
            self._used -= amount
            self._cond.notify_all()

    @contextmanager
    def hold(self, amount: int, timeout: float | None = None) -> Iterator[None]:
        """Hold ``amount`` for the duration of a ``with`` block; ``TimeoutError`` if it never fits."""
        if not self.acquire(amount, timeout):
            raise TimeoutError(f"could not reserve {amount} of {self.capacity} within {timeout} s")
        try:
            yield
        finally:
            self.release(amount)

    def reset_after_fork(self) -> None:
        """Replace the lock: a thread of the parent may have held it when the process forked."""
        self._cond = threading.Condition()


class CountingSemaphore(ByteBudget):
    """A budget of ``capacity`` slots, one per holder: a semaphore whose acquire takes a timeout."""

    def acquire(self, amount: int = 1, timeout: float | None = None) -> bool:
        """Take a slot (or ``amount``), waiting at most ``timeout`` seconds; whether it was taken."""
        return super().acquire(amount, timeout)

    def release(self, amount: int = 1) -> None:
        """Give a slot (or ``amount``) back."""
        super().release(amount)

    def __enter__(self) -> CountingSemaphore:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class DispatchLimiter:
    """Bounds in-flight requests and their estimated bytes for one dispatch limit.

    For ``penalty.window_seconds`` after :meth:`note_backoff`, at most
    ``penalty.max_in_flight`` requests may be in flight and each estimate counts
    ``penalty.byte_multiplier`` times: the server just said it is overloaded, so
    send less until it has had time to recover.
    """

    def __init__(self, spec: DispatchLimitSpec, clock: Clock = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._in_flight = 0
        self._bytes = 0
        self._penalty_until: float | None = None
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        """Requests currently admitted."""
        return self._in_flight

    def _penalised(self) -> bool:
        return self._penalty_until is not None and self._clock() < self._penalty_until

    def _charge(self, estimated_bytes: int) -> int:
        penalty = self.spec.penalty
        if penalty is not None and self._penalised():
            return int(estimated_bytes * penalty.byte_multiplier)
        return estimated_bytes

    def _fits(self, charged: int) -> bool:
        limit = self.spec.max_in_flight
        if self.spec.penalty is not None and self._penalised():
            limit = min(limit, self.spec.penalty.max_in_flight)
        if self._in_flight >= limit:
            return False
        max_bytes = self.spec.max_bytes
        # Alone, an oversized request is admitted rather than waiting for ever.
        return max_bytes is None or self._bytes == 0 or self._bytes + charged <= max_bytes

    def note_backoff(self) -> None:
        """Start (or extend) the penalty window: the server asked us to back off."""
        if self.spec.penalty is None:
            return
        with self._cond:
            self._penalty_until = self._clock() + self.spec.penalty.window_seconds

    def note_status(self, status: int) -> None:
        """Call :meth:`note_backoff` when ``status`` is one of the spec's backoff statuses."""
        if status in self.spec.backoff_statuses:
            self.note_backoff()

    @contextmanager
    def acquire(self, estimated_bytes: int = 0, timeout: float | None = None) -> Iterator[int]:
        """Admit one request of ``estimated_bytes``; yields the bytes charged for it.

        ``TimeoutError`` if it is not admitted within ``timeout`` seconds.
        """
        with self._cond:
            # The charge is fixed at admission so that release gives back exactly what was taken.
            ok = self._cond.wait_for(lambda: self._fits(self._charge(estimated_bytes)), timeout)
            if not ok:
                raise TimeoutError(f"dispatch limit not admitted within {timeout} s")
            charged = self._charge(estimated_bytes)
            self._in_flight += 1
            self._bytes += charged
        try:
            yield charged
        finally:
            with self._cond:
                self._in_flight -= 1
                self._bytes -= charged
                self._cond.notify_all()

    def reset_after_fork(self) -> None:
        """Forget the parent's in-flight requests: their threads do not exist in the child."""
        self._cond = threading.Condition()
        self._in_flight = 0
        self._bytes = 0


class Dispatcher:
    """Routes each operation to the dispatch limiter its ``dispatch`` key names."""

    def __init__(self, limiters: Mapping[str, DispatchLimiter]) -> None:
        self.limiters = dict(limiters)

    @contextmanager
    def acquire(
        self, operation: Operation, estimated_bytes: int = 0, timeout: float | None = None
    ) -> Iterator[int]:
        """Hold the operation's limiter for one request; operations without a limit pass freely."""
        name = operation.dispatch
        if name is None:
            yield 0
            return
        with self.limiters[name].acquire(estimated_bytes, timeout) as charged:
            yield charged

    def note_status(self, operation: Operation, status: int) -> None:
        """Report a response status for ``operation`` (starts a penalty on a backoff status)."""
        name = operation.dispatch
        if name is not None:
            self.limiters[name].note_status(status)

    def reset_after_fork(self) -> None:
        """Reset every limiter in a forked child."""
        for limiter in self.limiters.values():
            limiter.reset_after_fork()


def dispatcher_for(engine: Engine, clock: Clock = time.monotonic) -> Dispatcher:
    """The engine's ``dispatcher`` hook: one limiter per dispatch-limit spec."""
    specs = engine.table.dispatch_limits
    return Dispatcher({name: DispatchLimiter(spec, clock) for name, spec in specs.items()})
