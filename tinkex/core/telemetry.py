"""Telemetry: a bounded queue of events and a daemon thread that sends them in batches.

Logging an event never blocks the caller: when the queue is full the new event
is dropped (and counted). The flusher sends batches of at most ``batch_size``
events every ``flush_interval`` seconds, at once after an exception event, and a
last time when the client closes or the interpreter exits (within a bounded
time, through :mod:`tinkex.core.lifecycle`). A failed batch is dropped with one
warning per outage: telemetry must never become the problem it reports.

The domain decides what an event holds and builds the request body
(``build_payload(events)``); the core only queues dicts, and runs every body
through the client's redactor so that no credential leaves in a report.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pydantic_core

from tinkex.core.errors import SDKError
from tinkex.core.lifecycle import CLOSE_TIMEOUT, join_threads, start_daemon
from tinkex.core.model.document import TelemetrySpec
from tinkex.core.options import RequestOptions
from tinkex.core.redact import Redactor, mask

if TYPE_CHECKING:
    from tinkex.core.engine import Engine

log = logging.getLogger(__name__)

Event = Mapping[str, Any]


def telemetry_enabled(spec: TelemetrySpec, environ: Mapping[str, str]) -> bool:
    """Off when the spec's variable is set to something outside ``enabled_values`` (any case)."""
    value = environ.get(spec.env, "").strip() if spec.env else ""
    return not value or value.lower() in {v.lower() for v in spec.enabled_values}


def redact_payload(value: Any, redactor: Redactor) -> Any:
    """``value`` (JSON-ready) with secret header values masked by name and secrets masked in text."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, Mapping):
        return {key: (mask(item) if isinstance(item, str) and str(key).lower() in
                      redactor.header_names else redact_payload(item, redactor))
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact_payload(item, redactor) for item in value]
    return value


class TelemetryReporter:
    """Queues events and sends them from a daemon thread through ``spec.operation``.

    ``redactor`` defaults to the client's (``engine.config.redactor``);
    ``environ`` (default ``os.environ``) is read once, for the on/off switch.
    Register it with the client's :class:`~tinkex.core.lifecycle.ThreadOwner`
    so that close, interpreter exit and fork reach it.
    """

    def __init__(self, engine: Engine, build_payload: Callable[[list[Event]], Any],
                 spec: TelemetrySpec | None = None, *, redactor: Redactor | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        spec = spec or engine.table.telemetry
        if spec is None:
            raise ValueError("the document declares no telemetry (x-tinkex-telemetry)")
        self.engine = engine
        self.spec = spec
        self.enabled = telemetry_enabled(spec, os.environ if environ is None else environ)
        self.dropped = 0
        """Events lost because the queue was full."""
        self._build_payload = build_payload
        self._redactor = redactor or engine.config.redactor
        self._failing = False
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._queue: queue.Queue[Event] = queue.Queue(self.spec.queue_size)
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def log(self, event: Event) -> bool:
        """Queue ``event`` for the next batch; False if it was dropped. Never blocks."""
        if not self.enabled or self._stopping:
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        if self._thread is None:
            self._start()
        return True

    def log_exception(self, event: Event) -> bool:
        """Queue an exception event and send it (with whatever is queued) right away."""
        queued = self.log(event)
        self._wake.set()
        return queued

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = start_daemon("telemetry", self._flush_loop)

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(self.spec.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            self._send_queued(final=stopping)
            if stopping:
                return

    def _send_queued(self, final: bool) -> None:
        while True:
            batch: list[Event] = []
            while len(batch) < self.spec.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return
            self._send(batch, final)

    def _send(self, batch: list[Event], final: bool) -> None:
        try:
            body = pydantic_core.to_jsonable_python(self._build_payload(batch))
            # On the way out there is no time for retries: one attempt, then exit.
            self.engine.send(self.spec.operation, body=redact_payload(body, self._redactor),
                             options=RequestOptions(timeout=self.spec.timeout,
                                                    max_retries=0 if final else None))
        except (SDKError, ValueError, TypeError) as exc:
            level = logging.DEBUG if self._failing else logging.WARNING
            self._failing = True  # one warning per outage, not one per batch
            log.log(level, "telemetry: dropped a batch of %d event(s): %s", len(batch),
                    self._redactor.text(str(exc)))
        else:
            self._failing = False

    # ---- lifecycle ----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Send what is queued, then stop the flusher; later events are dropped."""
        self._stopping = True
        self._wake.set()

    def join(self, deadline: float) -> None:
        """Wait for the last flush until ``deadline``."""
        join_threads([self._thread], deadline)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush and stop within ``timeout`` seconds."""
        self.request_stop()
        self.join(time.monotonic() + timeout)

    def reset_after_fork(self) -> None:
        """In a forked child: an empty queue and no thread (the parent reports its own events)."""
        self._fresh_state()
