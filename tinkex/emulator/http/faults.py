"""Seeded fault injection, so clients can be tested against the failures the real service has.

All random choices come from one ``random.Random(seed)``: the same seed and the
same request sequence give the same faults. Faults apply to API operations only;
``/api/v1/healthz``, ``/openapi.json`` and archive downloads are never disturbed,
so readiness checks and test fixtures stay reliable.

Dropped connections are made below Starlette: :class:`DropConnections` aborts the
socket of the current request before any byte of an answer is written, which is
what a client sees when a proxy or the server dies mid-request. A *lost answer*
is the same abort after the handler has run: the request took effect, and the
client must learn its result by resending it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Any

from tinkex.emulator.config import FaultConfig
from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.state.requests import FutureRecord

PAUSE_REASONS = {
    "paused_rate_limit": "concurrent training clients rate limit hit (injected by the emulator)",
    "paused_capacity": "Tinker backend is running short on capacity, please wait "
                       "(injected by the emulator)",
}
_ERROR_STATUSES = (500, 502, 503)


def applies_to(path: str) -> bool:
    return path.startswith("/api/") and path != "/api/v1/healthz"


class Faults:
    def __init__(self, config: FaultConfig):
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._steps: dict[str, int] = {}
        self._corrupted: set[str] = set()
        #: How many faults of each kind were injected ("5xx", "429", "drop", "lose").
        self.injected: Counter[str] = Counter()

    def note_optimizer_step(self, run_id: str) -> None:
        """Count a finished optimizer step; the run is corrupted once it reaches the limit."""
        limit = self.config.corrupt_after
        if limit <= 0:
            return
        with self._lock:
            self._steps[run_id] = self._steps.get(run_id, 0) + 1
            if self._steps[run_id] >= limit:
                self._corrupted.add(run_id)

    def corrupted(self, run_id: str) -> bool:
        """Whether the run was marked corrupted (its training requests then fail)."""
        return run_id in self._corrupted

    def _roll(self, rate: float, kind: str) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < rate
            if hit:
                self.injected[kind] += 1
            return hit

    def should_drop(self) -> bool:
        return self._roll(self.config.drop_rate, "drop")

    def should_lose(self) -> bool:
        return self._roll(self.config.lose_rate, "lose")

    async def before_operation(self, operation_id: str) -> None:
        """Added latency, then maybe a 5xx or (asample only) a 429, before the handler runs."""
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)
        if self._roll(self.config.rate_5xx, "5xx"):
            with self._lock:
                status = self._rng.choice(_ERROR_STATUSES)
            raise HTTPProblem(status, f"injected server error ({operation_id})")
        if operation_id == "asample" and self._roll(self.config.rate_429, "429"):
            raise HTTPProblem(429, "sampling backpressure (injected): retry later",
                              {"Retry-After": "1"})

    def pause(self, record: FutureRecord) -> None:
        """Hold a new future in a paused queue for the configured time."""
        state = self.config.pause_state
        if state is None or self.config.pause_seconds <= 0:
            return
        record.not_before = time.monotonic() + self.config.pause_seconds
        record.queue_state, record.queue_state_reason = state, PAUSE_REASONS[state]

    def first_poll_hold(self, record: FutureRecord) -> float:
        """Seconds to hold this poll before a forced 408 (the first poll of each future only)."""
        if self.config.hold <= 0 or record.polled:
            return 0.0
        record.polled = True
        return self.config.hold


class DropConnections:
    """Raw ASGI middleware: close some connections without answering (uvicorn transports)."""

    def __init__(self, app: Any, faults: Faults):
        self.app = app
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not applies_to(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.faults.should_drop() and await _abort(send):
            return
        if not self.faults.should_lose():
            await self.app(scope, receive, send)
            return
        lost = False

        async def send_nothing(message: dict[str, Any]) -> None:
            nonlocal lost
            if not lost and message["type"] == "http.response.start":
                lost = await _abort(send)
            if not lost:
                await send(message)

        await self.app(scope, receive, send_nothing)


async def _abort(send: Any) -> bool:
    """Abort the connection of ``send`` (a uvicorn transport); False when it has none."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    # Let the server see the lost connection, or it would answer 500 itself.
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)
    return True
