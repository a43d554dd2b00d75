"""Session-level completion queues for ``retrieve_futures`` (one per sampling client).

Each sample future is watched under its target, ``(sampling_session_id,
seq_id // 1e9)``; when it finishes or fails an event with the next cursor is
appended to that target's queue and the target's long polls wake. A poll gets
the events after its ``prev_cursor`` (those at or before it are dropped: the
client has seen them), then fetches each result with ``retrieve_future``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

from .requests import FutureRecord, FutureStore

CLONE_BLOCK = 1_000_000_000
Target = tuple[str, int]


@dataclass(frozen=True)
class Completion:
    cursor: int
    request_id: str
    failed: bool


@dataclass
class _Queue:
    events: deque[Completion] = field(default_factory=deque)
    cursor: int = 0
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)


class Completions:
    def __init__(self, futures: FutureStore):
        self._lock = threading.Lock()
        self._queues: dict[Target, _Queue] = {}
        self._watched: dict[str, Target] = {}
        futures.listeners.append(self._finished)

    @staticmethod
    def target_of(sampling_session_id: str, seq_id: int | None) -> Target:
        return sampling_session_id, (seq_id or 0) // CLONE_BLOCK

    def watch(self, record: FutureRecord, target: Target) -> None:
        with self._lock:
            self._queues.setdefault(target, _Queue())
            self._watched[record.request_id] = target
        if record.done:  # finished before we started watching
            self._finished(record)

    def _finished(self, record: FutureRecord) -> None:
        with self._lock:
            target = self._watched.pop(record.request_id, None)
            if target is None:
                return
            queue = self._queues[target]
            queue.cursor += 1
            queue.events.append(Completion(queue.cursor, record.request_id,
                                           record.state == "failed"))
            waiters, queue.waiters = queue.waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _after(self, target: Target, prev_cursor: int) -> tuple[list[Completion], int]:
        with self._lock:
            queue = self._queues.setdefault(target, _Queue())
            while queue.events and queue.events[0].cursor <= prev_cursor:
                queue.events.popleft()
            return list(queue.events), max(prev_cursor, queue.cursor if queue.events else
                                           prev_cursor)

    async def poll(self, target: Target, prev_cursor: int,
                   timeout: float) -> tuple[list[Completion], int]:
        """Completions after ``prev_cursor``, waiting up to ``timeout`` s for the first."""
        events, cursor = self._after(target, prev_cursor)
        if events or timeout <= 0:
            return events, cursor
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._queues[target].waiters.append(entry)
        events, cursor = self._after(target, prev_cursor)  # one may have landed meanwhile
        if not events:
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            events, cursor = self._after(target, prev_cursor)
        with self._lock:
            if entry in self._queues[target].waiters:
                self._queues[target].waiters.remove(entry)
        return events, cursor

    def release(self) -> None:
        """Wake every poll (shutdown)."""
        with self._lock:
            waiters = [w for q in self._queues.values() for w in q.waiters]
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)
