"""Who owns the background threads, and how they end: on close, at exit, after fork.

Every thread the core starts belongs to a client through a :class:`ThreadOwner`.
The owner stops them on ``close()``, and three safety nets cover clients that are
never closed:

* threads are daemons, and an ``atexit`` hook stops every live owner within a
  bounded time, so a script that forgets ``close()`` still exits promptly (and
  telemetry still gets its last flush);
* an owner that is garbage-collected asks its threads to stop;
* after ``os.fork()`` the child resets every live owner: locks held by the
  parent's threads are replaced and threads are started again lazily, because a
  child must not share (or wait for) threads that do not exist in it.

:class:`TaskPool` is the bounded, on-demand pool of such threads that runs
scheduled tasks (the future poller is built on it).
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from tinkex.core.engine import Engine

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0
"""Seconds ``close()`` (and the exit hook) waits for threads to finish."""

THREAD_PREFIX = "tinkex-"


class Background(Protocol):
    """A component that runs threads for a client."""

    def request_stop(self) -> None:
        """Ask the threads to finish; must not block."""

    def join(self, deadline: float) -> None:
        """Wait for the threads until ``deadline`` (a ``time.monotonic()`` value)."""

    def reset_after_fork(self) -> None:
        """In a forked child: drop the parent's threads and locks; restart lazily."""


def joined_at_exit(component: Background) -> bool:
    """Whether the exit hook waits for ``component``'s threads.

    A component sets ``JOINED_AT_EXIT = False`` when its threads have nothing to
    finish for a process that is ending (a poll whose result nobody will read, a
    heartbeat): the exit hook then only asks them to stop, and a thread blocked on
    a socket read cannot hold the exit for the whole CLOSE_TIMEOUT.
    """
    return bool(getattr(component, "JOINED_AT_EXIT", True))


C = TypeVar("C", bound=Background)
Task = Callable[[], "float | None"]
"""A pool task: returns None when finished, or the delay in seconds before it runs again."""


def start_daemon(name: str, target: Callable[[], None]) -> threading.Thread:
    """Start a named daemon thread; daemon so that no forgotten thread can keep a process alive."""
    thread = threading.Thread(target=target, name=THREAD_PREFIX + name, daemon=True)
    thread.start()
    return thread


def join_threads(threads: Iterable[threading.Thread | None], deadline: float) -> None:
    """Join each thread until the shared ``deadline``; a stuck one is left to die with the process."""
    current = threading.current_thread()
    for thread in threads:
        if thread is None or thread is current:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.debug("thread %s did not stop in time; it is a daemon and is abandoned", thread.name)


def _stop(components: list[Background], deadline: float | None, at_exit: bool = False) -> None:
    # Ask everyone first, then wait: the components stop in parallel, so the
    # whole close takes as long as the slowest, not the sum.
    for component in reversed(components):
        component.request_stop()
    if deadline is not None:
        for component in reversed(components):
            if not at_exit or joined_at_exit(component):
                component.join(deadline)


def _stop_many(owners: list[ThreadOwner], deadline: float, at_exit: bool = False) -> None:
    components = [c for owner in owners for c in owner._detach()]
    _stop(components, deadline, at_exit)


class Ticket:
    """A task's place in a :class:`TaskPool`, kept across its reruns.

    :meth:`TaskPool.take` lets a caller that would otherwise block on the
    task's outcome run a due task itself, saving two thread hand-offs.
    """

    __slots__ = ("due", "task", "live", "gen")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.due = 0.0
        self.live = False  # queued and not started
        self.gen = 0  # which heap entry is current (a taken ticket may be queued again)


class TaskPool:
    """At most ``max_threads`` daemon threads running scheduled tasks; threads start on demand.

    A task returning a delay is run again after it without holding a thread
    meanwhile, so a pool of a few threads serves many futures.
    """

    def __init__(self, name: str, max_threads: int) -> None:
        self.name = name
        self.max_threads = max_threads
        self._heap: list[tuple[float, int, Ticket, int]] = []
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._stopping = False

    def schedule(self, task: Task, delay: float = 0.0) -> Ticket:
        """Run ``task`` after ``delay`` seconds on one of the pool's threads."""
        ticket = Ticket(task)
        self.requeue(ticket, delay)
        return ticket

    def requeue(self, ticket: Ticket, delay: float = 0.0) -> None:
        """Queue ``ticket``'s task again, ``delay`` seconds from now."""
        with self._cond:
            if self._stopping:
                return
            ticket.due, ticket.live = time.monotonic() + delay, True
            ticket.gen += 1
            heapq.heappush(self._heap, (ticket.due, next(self._order), ticket, ticket.gen))
            self._wake_or_start()

    def take(self, ticket: Ticket) -> bool:
        """Claim a due ticket that no thread has started: the caller then runs it with :meth:`run`.

        False if it is not due yet, already started (or taken), or the pool is stopping.
        """
        with self._cond:
            if not ticket.live or self._stopping or ticket.due > time.monotonic():
                return False
            ticket.live = False
            return True

    def run(self, ticket: Ticket) -> float | None:
        """Run a ticket's task in this thread; queue it again if it asks to be (and return the delay)."""
        try:
            again = ticket.task()
        except Exception:  # tasks settle their own errors; this is a last resort
            log.exception("background task failed")
            again = None
        if again is not None:
            self.requeue(ticket, again)
        return again

    def kick(self) -> None:
        """Make sure queued tasks have a thread (after a fork, none has started yet)."""
        if not self._heap:  # nothing queued: no need to take the lock the workers wait on
            return
        with self._cond:
            if self._heap and not self._stopping:
                self._wake_or_start()

    def _wake_or_start(self) -> None:
        # ``_idle`` counts waiting threads that nobody has woken yet, so a burst of
        # tasks starts as many threads as it needs instead of queueing behind one.
        if self._idle:
            self._idle -= 1
            self._cond.notify()
            return
        self._threads = [t for t in self._threads if t.is_alive()]
        if len(self._threads) < self.max_threads:
            self._threads.append(start_daemon(f"{self.name}-{len(self._threads)}", self._work))

    def _next_ticket(self) -> Ticket | None:
        with self._cond:
            while not self._stopping:
                while self._heap and not _current(self._heap[0]):  # taken by a waiting caller
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    ticket = heapq.heappop(self._heap)[2]
                    ticket.live = False
                    return ticket
                self._idle += 1
                if not self._cond.wait(wait):  # timed out: nobody woke (and un-counted) us
                    self._idle -= 1
            return None

    def _work(self) -> None:
        while (ticket := self._next_ticket()) is not None:
            self.run(ticket)
            # An idle thread must not keep its last task (and the client behind it) alive.
            del ticket

    def request_stop(self) -> None:
        """Let the threads finish their current task and exit; queued tasks are dropped."""
        with self._cond:
            self._stopping = True
            for _, _, ticket, _ in self._heap:
                ticket.live = False
            self._heap.clear()
            self._cond.notify_all()

    def join(self, deadline: float) -> None:
        """Wait for the threads until ``deadline``."""
        join_threads(list(self._threads), deadline)

    def reset_after_fork(self, tickets: Iterable[Ticket] = ()) -> None:
        """In a forked child: forget the parent's threads, lock and queue, and queue ``tickets``.

        No thread starts here; the next :meth:`schedule` or :meth:`kick` starts one.
        """
        self._fresh_state()
        now = time.monotonic()
        self._heap = []
        for ticket in tickets:
            ticket.due, ticket.live = now, True
            ticket.gen += 1
            self._heap.append((now, next(self._order), ticket, ticket.gen))


def _current(entry: tuple[float, int, Ticket, int]) -> bool:
    """Whether a heap entry is its ticket's live one (not taken, not superseded)."""
    ticket = entry[2]
    return ticket.live and ticket.gen == entry[3]


class ThreadOwner:
    """The background components of one client, stopped together.

    ``engine`` is optional; when given, a forked child also resets it (fresh
    connection pools, so the child never writes to the parent's sockets) and the
    hooks attached to it (sequencer, dispatcher), whose locks may have been held
    by the parent's threads.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self._components: list[Background] = []
        self._closed = False
        # Runs if the client is dropped without close(); it must not reference self.
        self._finalizer = weakref.finalize(self, _stop, self._components, None)
        self._finalizer.atexit = False  # the exit hook below joins with a deadline instead
        _live.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def own(self, component: C) -> C:
        """Register ``component`` so that close, exit and fork handling reach it."""
        if self._closed:
            raise RuntimeError("this client is closed")
        self._components.append(component)
        return component

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop every component (last registered first) and join their threads within ``timeout``."""
        _stop_many([self], time.monotonic() + timeout)

    def _detach(self) -> list[Background]:
        # Marks the owner closed exactly once; returns what is left to stop.
        if self._closed:
            return []
        self._closed = True
        self._finalizer.detach()
        _live.discard(self)
        return self._components

    def reset_after_fork(self) -> None:
        """Give the forked child fresh locks, no threads, and fresh connections."""
        for component in self._components:
            component.reset_after_fork()
        engine = self.engine
        if engine is not None:
            engine.reset_after_fork()
            for hook in (engine.sequencer, engine.dispatcher):
                reset = getattr(hook, "reset_after_fork", None)  # hooks without locks need none
                if reset is not None:
                    reset()

    def __enter__(self) -> ThreadOwner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_live: weakref.WeakSet[ThreadOwner] = weakref.WeakSet()


def live_owners() -> list[ThreadOwner]:
    """Owners that are neither closed nor garbage-collected."""
    return list(_live)


def _close_all_at_exit() -> None:
    # One shared deadline for every client, so many forgotten clients do not add up.
    try:
        _stop_many(live_owners(), time.monotonic() + CLOSE_TIMEOUT, at_exit=True)
    except Exception:  # the process is exiting anyway; never turn that into a traceback storm
        log.debug("stopping clients at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    for owner in live_owners():
        owner.reset_after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
