"""In-process metrics: per-operation counters and latency percentiles, cheap enough to stay on.

Every logical request the engine sends (all its attempts together) is recorded
once: whether it succeeded, the status (or ``connection_error`` / ``timeout``)
of a failure, the retries it took and its latency. Latencies go into a
log-bucketed histogram: each bucket is ``GROWTH`` times wider than the one
before, so any percentile is known within half a bucket (about 1 %) and the
memory per operation is bounded (at most ``BUCKETS`` counters, from 1 µs to
about an hour), whatever the number of calls. ``bench/bench_metrics.py``
measures the cost per call.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

MIN_SECONDS = 1e-6
GROWTH = 1.02
BUCKETS = 1120
"""1 µs * 1.02**1120 is about an hour; slower calls share the last bucket."""
_LOG_GROWTH = math.log(GROWTH)
PERCENTILES = (0.50, 0.95, 0.99)


class LatencyHistogram:
    """Counts of latencies by log bucket; not thread-safe (:class:`Metrics` holds the lock)."""

    __slots__ = ("counts", "count", "total", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        if seconds <= MIN_SECONDS:
            index = 0
        else:
            index = min(int(math.log(seconds / MIN_SECONDS) / _LOG_GROWTH) + 1, BUCKETS - 1)
        counts = self.counts
        counts[index] = counts.get(index, 0) + 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float:
        """The latency below which a fraction ``q`` of the calls fell (bucket midpoint); 0 if empty."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:  # the last bucket is open-ended: its calls are known by the max only
                return self.max if index == BUCKETS - 1 else min(_midpoint(index), self.max)
        return self.max


def _midpoint(index: int) -> float:
    if index == 0:
        return MIN_SECONDS
    low = MIN_SECONDS * GROWTH ** (index - 1)
    return low * math.sqrt(GROWTH)


@dataclass(frozen=True)
class LatencySummary:
    """Seconds: percentiles (within about 1 %), mean and max of the recorded calls."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float


@dataclass(frozen=True)
class OperationMetrics:
    """What happened to one operation's calls since the last reset."""

    calls: int
    successes: int
    failures: Mapping[str, int]
    """By final status (``"503"``), else ``"connection_error"``, ``"timeout"`` or ``"circuit_open"``."""
    retries: int
    """Attempts beyond the first, summed over the calls."""
    latency: LatencySummary

    @property
    def failure_count(self) -> int:
        return sum(self.failures.values())


@dataclass(frozen=True)
class MetricsSnapshot:
    """Per-operation metrics (by operation id) at one moment."""

    operations: Mapping[str, OperationMetrics]

    @property
    def calls(self) -> int:
        return sum(m.calls for m in self.operations.values())

    @property
    def failures(self) -> int:
        return sum(m.failure_count for m in self.operations.values())

    def __getitem__(self, operation_id: str) -> OperationMetrics:
        return self.operations[operation_id]

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self.operations


class _Counters:
    __slots__ = ("calls", "successes", "failures", "retries", "latency")

    def __init__(self) -> None:
        self.calls = 0
        self.successes = 0
        self.failures: dict[str, int] = {}
        self.retries = 0
        self.latency = LatencyHistogram()


class Metrics:
    """The aggregator; thread-safe. The engine calls :meth:`record` once per logical request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[str, _Counters] = {}

    def record(self, operation_id: str, seconds: float, attempts: int,
               failure: str | None) -> None:
        """One call: ``failure`` is None for a success, else its status or error kind."""
        with self._lock:
            counters = self._ops.get(operation_id)
            if counters is None:
                counters = self._ops[operation_id] = _Counters()
            counters.calls += 1
            if failure is None:
                counters.successes += 1
            else:
                counters.failures[failure] = counters.failures.get(failure, 0) + 1
            if attempts > 1:
                counters.retries += attempts - 1
            counters.latency.record(seconds)

    def snapshot(self, *, reset: bool = False) -> MetricsSnapshot:
        """The metrics so far; with ``reset`` they start again from zero (atomically)."""
        with self._lock:
            ops = self._ops
            if reset:
                self._ops = {}
            out = {op_id: _summarise(c) for op_id, c in ops.items()}
        return MetricsSnapshot(MappingProxyType(dict(sorted(out.items()))))

    def reset(self) -> None:
        with self._lock:
            self._ops = {}

    def reset_after_fork(self) -> None:
        """Replace the lock (a parent thread may have held it); the counts stay the parent's."""
        self._lock = threading.Lock()


def _summarise(c: _Counters) -> OperationMetrics:
    h = c.latency
    p50, p95, p99 = (h.percentile(q) for q in PERCENTILES)
    latency = LatencySummary(h.count, p50, p95, p99, h.total / h.count if h.count else 0.0, h.max)
    return OperationMetrics(c.calls, c.successes, MappingProxyType(dict(sorted(c.failures.items()))),
                            c.retries, latency)
