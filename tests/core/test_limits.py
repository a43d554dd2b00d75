"""Admission control: byte budgets, counting semaphores, dispatch limits and their penalty window."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tinkex.core import limits
from tinkex.core.engine import EngineHooks
from tinkex.core.errors import RateLimitError
from tinkex.core.limits import ByteBudget, CountingSemaphore, DispatchLimiter

from .loopback import LoopbackServer, Reply, kennel, kennel_engine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _blocked_acquirer(acquire: Callable[[], object]) -> tuple[threading.Thread, threading.Event]:
    """A thread that calls ``acquire()`` and sets the event once it got through."""
    done = threading.Event()

    def run() -> None:
        acquire()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_byte_budget_blocks_until_released_and_times_out():
    budget = ByteBudget(100)
    assert budget.acquire(60)
    assert not budget.acquire(50, timeout=0.01)
    assert budget.try_acquire(40) and budget.used == 100
    thread, done = _blocked_acquirer(lambda: budget.acquire(30))
    assert not done.wait(0.05)  # still held: 100 of 100 are in use
    budget.release(40)
    assert done.wait(5)
    thread.join()
    assert budget.used == 90


def test_oversized_request_is_admitted_alone_instead_of_deadlocking():
    budget = ByteBudget(100)
    assert budget.acquire(10)
    assert not budget.try_acquire(500)  # not while anything else is held
    budget.release(10)
    assert budget.try_acquire(500)  # alone it goes through
    assert not budget.try_acquire(1)  # and nothing joins it
    budget.release(500)
    assert budget.used == 0


def test_budget_hold_releases_on_exit_and_raises_timeout_error():
    budget = ByteBudget(10)
    with budget.hold(10):
        assert budget.used == 10
        with pytest.raises(TimeoutError), budget.hold(1, timeout=0.01):
            pass
    assert budget.used == 0
    with pytest.raises(ValueError):
        budget.release(1)


def test_counting_semaphore_counts_holders():
    sem = CountingSemaphore(2)
    with sem:
        assert sem.acquire(timeout=0)
        assert not sem.acquire(timeout=0.01)
        sem.release()
    assert sem.used == 0


def _spec(name: str = "walks"):
    table, _ = kennel()
    return table.dispatch_limits[name]


def test_dispatch_limiter_bounds_requests_and_bytes():
    limiter = DispatchLimiter(_spec())  # 4 in flight, 1000 bytes
    with limiter.acquire(600), limiter.acquire(300):
        with pytest.raises(TimeoutError), limiter.acquire(200, timeout=0.01):
            pass
        with limiter.acquire(100), limiter.acquire(0):
            assert limiter.in_flight == 4
            with pytest.raises(TimeoutError), limiter.acquire(0, timeout=0.01):
                pass
    assert limiter.in_flight == 0


def test_backoff_status_starts_a_penalty_window_on_the_injected_clock():
    clock = Clock()
    limiter = DispatchLimiter(_spec(), clock)  # penalty: 1 in flight, bytes x10, for 5 s
    limiter.note_status(200)
    with limiter.acquire(10), limiter.acquire(10) as charged:
        assert charged == 10
    limiter.note_status(429)
    with limiter.acquire(50) as charged:
        assert charged == 500  # each estimate counts ten times
        with pytest.raises(TimeoutError), limiter.acquire(1, timeout=0.01):
            pass  # concurrency dropped to one
    clock.now += 4.9
    with limiter.acquire(10), pytest.raises(TimeoutError), limiter.acquire(1, timeout=0.01):
        pass
    clock.now += 0.2  # the window is over
    with limiter.acquire(10) as charged, limiter.acquire(10):
        assert charged == 10


def test_a_waiter_is_admitted_when_a_request_finishes():
    limiter = DispatchLimiter(_spec())
    release = threading.Event()
    holders = []
    for _ in range(4):
        held = threading.Event()

        def hold(held: threading.Event = held) -> None:
            with limiter.acquire(1):
                held.set()
                release.wait(5)

        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        held.wait(5)
        holders.append(thread)

    def enter() -> None:
        with limiter.acquire(1):
            pass

    thread, done = _blocked_acquirer(enter)
    assert not done.wait(0.05)
    release.set()
    assert done.wait(5)
    for t in [*holders, thread]:
        t.join()


def test_engine_reports_backoff_statuses_to_the_dispatcher(server: LoopbackServer):
    server.script("POST", "/walks", [Reply(429, {"detail": "slow down"}), Reply(200, {"ticket": "t"})])
    clock = Clock()
    engine = kennel_engine(server.url, hooks=EngineHooks(
        dispatcher=lambda engine: limits.dispatcher_for(engine, clock)))
    dispatcher = engine.dispatcher
    assert isinstance(dispatcher, limits.Dispatcher)
    limiter = dispatcher.limiters["walks"]
    try:
        with pytest.raises(RateLimitError):
            engine.call("start_walk", dog="rex", step=1)
        with limiter.acquire(1), pytest.raises(TimeoutError), limiter.acquire(1, timeout=0.01):
            pass  # the 429 tightened the limit
        assert engine.call("start_walk", dog="rex", step=2).ticket == "t"
        assert limiter.in_flight == 0
    finally:
        engine.close()
