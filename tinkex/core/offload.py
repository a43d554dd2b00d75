"""Run blocking calls on a client's own threads: the seam under the ``*_async`` methods.

The engine is blocking on purpose. A coroutine that must not block its event
loop hands the blocking part (a submit, a creation) to an :class:`Offloader`
and awaits the :class:`~tinkex.core.apifuture.APIFuture` it returns; the
offloader's threads belong to the client (a :class:`TaskPool` registered with
its :class:`~tinkex.core.lifecycle.ThreadOwner`), start on demand and stop on
``close()``. No event loop runs on them.

A :class:`Lane` keeps calls in the order they were handed over: each lane runs
one call at a time, first in first out, on whichever thread is free. Calls that
number their requests when they run (per-model sequence ids) go through the
model's lane, so the numbers follow the order of the calls, not the order in
which threads happen to be scheduled.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from tinkex.core.apifuture import APIFuture
from tinkex.core.lifecycle import TaskPool

T = TypeVar("T")

_Job = tuple[APIFuture[Any], Callable[[], Any]]


def _run(future: APIFuture[Any], call: Callable[[], Any]) -> None:
    # The future stays pending while the call runs, so that it can still be
    # cancelled; a late value is then dropped (and cancelled, if it is a future).
    if future.done():  # cancelled before it started
        return
    try:
        value = call()
    except BaseException as exc:
        future._settle(exc=exc)
        return
    future._settle(value)
    if future.cancelled() and isinstance(value, concurrent.futures.Future):
        value.cancel()


class Lane:
    """Calls handed to one lane run one at a time, in the order they were handed over."""

    def __init__(self, pool: TaskPool) -> None:
        self._pool = pool
        self._jobs: collections.deque[_Job] = collections.deque()
        self._busy = False
        self._lock = threading.Lock()

    def _add(self, job: _Job) -> None:
        with self._lock:
            self._jobs.append(job)
            if self._busy:
                return
            self._busy = True
        self._pool.schedule(self._next)

    def _next(self) -> float | None:
        # One job per pool task; rescheduled at once while jobs remain, so a busy lane
        # shares the threads with other lanes instead of holding one.
        with self._lock:
            if not self._jobs:
                self._busy = False
                return None
            job = self._jobs.popleft()
        _run(*job)
        with self._lock:
            if self._jobs:
                return 0.0
            self._busy = False
            return None

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._jobs.clear()
        self._busy = False


class Offloader:
    """A bounded, on-demand pool of threads for blocking calls made on behalf of coroutines."""

    JOINED_AT_EXIT = False  # its calls were made for coroutines that end with the process

    def __init__(self, name: str, max_threads: int) -> None:
        self.pool = TaskPool(name, max_threads)
        self._lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._pending: set[APIFuture[Any]] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def lane(self) -> Lane:
        """A new lane: calls handed to it keep their order."""
        lane = Lane(self.pool)
        self._lanes.add(lane)
        return lane

    def submit(self, fn: Callable[..., T], *args: Any, lane: Lane | None = None,
               **kwargs: Any) -> APIFuture[T]:
        """Run ``fn(*args, **kwargs)`` on a pool thread (in ``lane``'s order, if given).

        Returns at once with a future of the call's value. Cancelling that future
        before the call starts skips it. A call already running cannot be
        stopped; if it returns a future (it submitted a request), that future is
        cancelled instead, so a request nobody waits for is not polled.
        """
        future: APIFuture[T] = APIFuture()
        future._on_wait = self.pool.kick
        with self._lock:
            if self._stopped:
                raise RuntimeError("this client is closed")
            self._pending.add(future)
        future.add_done_callback(self._discard)
        call = functools.partial(fn, *args, **kwargs)
        if lane is None:
            self.pool.schedule(lambda: _run(future, call))
        else:
            lane._add((future, call))
        return future

    # ---- lifecycle (Background) ---------------------------------------------------------

    def _discard(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def request_stop(self) -> None:
        """Stop the threads; calls not finished yet are cancelled (their awaiters wake)."""
        with self._lock:
            self._stopped = True
            pending = list(self._pending)
        self.pool.request_stop()
        for future in pending:
            future.cancel()

    def join(self, deadline: float) -> None:
        self.pool.join(deadline)

    def reset_after_fork(self) -> None:
        """In a forked child: no threads, fresh locks; calls queued in the parent are dropped."""
        self._lock = threading.Lock()
        self._pending = set()
        self.pool.reset_after_fork()
        for lane in list(self._lanes):
            lane.reset_after_fork()
