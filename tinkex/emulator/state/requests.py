"""Futures: what ``retrieve_future`` looks up, and how a long poll waits for a result.

A record is created when a request is accepted and resolved by a compute thread.
Long polls run on the event loop, so a waiting poll costs an ``asyncio.Event``,
not a thread; the compute thread wakes it with ``call_soon_threadsafe``. A
record can carry a dedupe key (``("model", model_id, seq_id)``) so a resent
request gets the first request's future instead of running twice. Finished
records are kept ``retention`` seconds, then remembered only as expired (410).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from tinkex.emulator.errors import HTTPProblem, not_found

_MAX_TOMBSTONES = 100_000
_REQUEST_ID = re.compile(r"req-[0-9a-f]{32}")
_SWEEP_INTERVAL = 0.5


@dataclass
class FutureRecord:
    request_id: str
    owner: str
    request_type: str
    key: Hashable | None
    state: str = "pending"  # pending | done | failed
    result: Any = None
    error: str | None = None
    category: str | None = None
    finished_at: float | None = None
    not_before: float = 0.0
    queue_state: str = "active"
    queue_state_reason: str | None = None
    polled: bool = False
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state != "pending"


class FutureStore:
    def __init__(self, retention: float):
        self.retention = retention
        self._lock = threading.Lock()
        self._records: dict[str, FutureRecord] = {}
        self._by_key: dict[Hashable, FutureRecord] = {}
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._last_sweep = 0.0
        self._closed = False
        #: Why a request id of a previous run of the server is gone (lost in a restart).
        self.lost: dict[str, str] = {}
        #: Called (on the finishing thread, outside the lock) with each record that finishes.
        self.listeners: list[Callable[[FutureRecord], None]] = []

    def create(self, owner: str, request_type: str,
               key: Hashable | None = None) -> tuple[FutureRecord, bool]:
        """A new pending record, or ``(existing, False)`` when ``key`` was seen before."""
        self._sweep()
        with self._lock:
            if key is not None and key in self._by_key:
                return self._by_key[key], False
            record = FutureRecord(f"req-{uuid.uuid4().hex}", owner, request_type, key)
            self._records[record.request_id] = record
            if key is not None:
                self._by_key[key] = record
            return record, True

    def by_key(self, key: Hashable) -> FutureRecord | None:
        """The record created under ``key``, if it is still kept."""
        with self._lock:
            return self._by_key.get(key)

    def get(self, request_id: str, owner: str) -> FutureRecord:
        """The caller's record; 410 once it has expired, 404 if it never existed.

        An id of our format that we do not know was issued before a restart:
        that is 410 too, so clients resubmit instead of failing.
        """
        self._sweep()
        with self._lock:
            record = self._records.get(request_id)
            if record is None and request_id in self.lost:
                raise HTTPProblem(410, self.lost[request_id])
            if record is None and (request_id in self._expired
                                   or _REQUEST_ID.fullmatch(request_id)):
                raise HTTPProblem(410, f"future {request_id!r} has expired")
        if record is None or record.owner != owner:
            raise not_found("future", request_id)
        return record

    def resolve(self, record: FutureRecord, result: Any) -> None:
        self._finish(record, "done", result=result)

    def fail(self, record: FutureRecord, message: str, category: str) -> None:
        self._finish(record, "failed", error=message, category=category)

    def _finish(self, record: FutureRecord, state: str, **values: Any) -> None:
        with self._lock:
            if record.done:
                return
            for name, value in values.items():
                setattr(record, name, value)
            record.state = state
            record.finished_at = time.monotonic()
            record.queue_state, record.queue_state_reason = "active", None
            waiters, record.waiters = record.waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)
        for listener in self.listeners:
            listener(record)

    async def wait(self, record: FutureRecord, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the record to finish; True if it did."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            if record.done:
                return True
            if self._closed:
                return False
            record.waiters.append(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                if entry in record.waiters:
                    record.waiters.remove(entry)
        return record.done

    def close(self) -> None:
        """Release every long poll (shutdown): they answer "try again" at once."""
        with self._lock:
            self._closed = True
            waiters = [w for r in self._records.values() for w in r.waiters]
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep < min(_SWEEP_INTERVAL, self.retention):
                return
            self._last_sweep = now
            stale = [r for r in self._records.values()
                     if r.finished_at is not None and now - r.finished_at > self.retention]
            for record in stale:
                del self._records[record.request_id]
                if record.key is not None:
                    self._by_key.pop(record.key, None)
                self._expired[record.request_id] = None
            while len(self._expired) > _MAX_TOMBSTONES:
                self._expired.popitem(last=False)
