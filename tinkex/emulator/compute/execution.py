"""Where accepted requests run: a small thread pool, fed by one ordered lane per model.

Training requests of one model must run one at a time and in ``seq_id`` order,
even though parallel chunks arrive out of order (the SDK sends the first chunk
last). Each model has a :class:`_Lane` holding early arrivals until their
predecessors have run; if a predecessor never comes, the lane skips the gap
after ``gap_timeout`` seconds. Sampling needs no order and goes straight to the
pool. A timer thread wakes lanes for gap timeouts and queue pauses, so no
compute thread ever sleeps while holding a slot.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tinkex.emulator.errors import ServerFailure, UserError
from tinkex.emulator.state.requests import FutureRecord, FutureStore

log = logging.getLogger("tinkex.emulator")

Work = Callable[[], Any]


@dataclass
class _Job:
    record: FutureRecord
    work: Work
    seq_id: int | None


@dataclass
class _Lane:
    scope: str
    next_seq: int
    pending: dict[int, _Job] = field(default_factory=dict)
    unordered: deque[_Job] = field(default_factory=deque)
    head: _Job | None = None
    running: bool = False
    gap_since: float | None = None
    lost: frozenset[int] = frozenset()
    """seq_ids accepted before a restart that never ran: only their resends may fill the gap."""


def _lost_message(scope: str, missing: list[int], seq_id: int) -> str:
    first, last = min(missing), max(missing)
    span = f"seq_id {first}" if first == last else f"seq_ids {first}..{last}"
    return (f"model {scope!r}: the server restarted before running {span}, which it had "
            f"accepted; seq_id {seq_id} cannot run in order. Resend those requests, or load "
            "the last checkpoint into a new training client")


class Timer:
    """One thread that runs callbacks at monotonic deadlines (cheaper than a Timer each)."""

    def __init__(self, name: str) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name,
                                        daemon=True)
        self._thread.start()

    def call_at(self, deadline: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._counter), fn))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()


class Executor:
    def __init__(self, futures: FutureStore, workers: int, gap_timeout: float,
                 thread_prefix: str = "tinkex-emulator"):
        self.futures = futures
        self.gap_timeout = gap_timeout
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"{thread_prefix}-worker")
        self._timer = Timer(f"{thread_prefix}-timer")
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._closed = False
        #: Per model, the seq_ids lost in the last restart (set before serving).
        self.lost: dict[str, set[int]] = {}

    # -- submission -----------------------------------------------------------------

    def submit(self, record: FutureRecord, work: Work) -> None:
        """Run ``work`` as soon as a thread is free (and the record's pause is over)."""
        delay = record.not_before - time.monotonic()
        if delay > 0:
            self._timer.call_at(record.not_before, lambda: self._start(record, work, None))
        else:
            self._start(record, work, None)

    def submit_ordered(self, scope: str, seq_id: int | None, record: FutureRecord, work: Work,
                       first_seq: Callable[[], int]) -> None:
        """Queue ``work`` on the lane of ``scope`` (a model id) at position ``seq_id``.

        ``first_seq`` gives the lane's starting point when the lane does not exist
        yet (1 for a new model, the stored last seq_id + 1 after a restart).
        ``seq_id=None`` (pre-0.3 SDKs) runs after whatever is already runnable.
        """
        job = _Job(record, work, seq_id)
        with self._lock:
            lane = self._lanes.get(scope)
            if lane is None:
                start = first_seq()
                lost = frozenset(n for n in self.lost.get(scope, ()) if n >= start)
                lane = self._lanes[scope] = _Lane(scope, start, lost=lost)
            missing = [n for n in lane.lost if n >= lane.next_seq and n not in lane.pending]
            if seq_id is None:
                lane.unordered.append(job)
            elif seq_id < lane.next_seq:
                self.futures.fail(record, f"seq_id {seq_id} of {scope!r} arrived after seq_id "
                                          f"{lane.next_seq - 1} had already run", "user")
                return
            elif missing and seq_id > max(lane.lost):
                # Waiting would only end in skipping the lost steps: say so now.
                self.futures.fail(record, _lost_message(scope, missing, seq_id), "user")
                return
            else:
                lane.pending[seq_id] = job
        self._pump(lane)

    # -- lanes ----------------------------------------------------------------------

    def _pick(self, lane: _Lane, now: float) -> _Job | None:
        """The lane's next job in order, or None (waiting for a gap to fill or time out)."""
        if lane.unordered:
            return lane.unordered.popleft()
        if lane.next_seq in lane.pending:
            lane.gap_since = None
        elif lane.pending:
            if lane.gap_since is None:
                lane.gap_since = now
                self._timer.call_at(now + self.gap_timeout, lambda: self._pump(lane))
            if now - lane.gap_since < self.gap_timeout:
                return None
            skipped_to = min(lane.pending)
            log.warning("model %s: seq_id %d..%d never arrived; skipping to %d",
                        lane.scope, lane.next_seq, skipped_to - 1, skipped_to)
            lane.next_seq, lane.gap_since = skipped_to, None
        else:
            return None
        job = lane.pending.pop(lane.next_seq)
        lane.next_seq += 1
        return job

    def _pump(self, lane: _Lane) -> None:
        with self._lock:
            if lane.running or self._closed:
                return
            now = time.monotonic()
            job = lane.head or self._pick(lane, now)
            lane.head = None
            if job is None:
                return
            if job.record.not_before > now:
                lane.head = job
                self._timer.call_at(job.record.not_before, lambda: self._pump(lane))
                return
            lane.running = True
        self._start(job.record, job.work, lane)

    def _start(self, record: FutureRecord, work: Work, lane: _Lane | None) -> None:
        with self._lock:
            if self._closed:
                return
            self._pool.submit(self._run, record, work, lane)

    def _run(self, record: FutureRecord, work: Work, lane: _Lane | None) -> None:
        record.queue_state, record.queue_state_reason = "active", None
        try:
            self.futures.resolve(record, work())
        except (UserError, ValueError) as e:
            self.futures.fail(record, str(e), "user")
        except ServerFailure as e:
            self.futures.fail(record, str(e), "server")
        except Exception as e:
            log.exception("request %s (%s) failed", record.request_id, record.request_type)
            self.futures.fail(record, f"internal error: {type(e).__name__}", "server")
        finally:
            if lane is not None:
                with self._lock:
                    lane.running = False
                self._pump(lane)

    def shutdown(self) -> None:
        """Stop taking work, let running jobs finish, join every thread."""
        with self._lock:
            self._closed = True
        self._timer.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
