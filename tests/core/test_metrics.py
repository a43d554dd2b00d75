"""The metrics aggregator: counters by outcome, retries, bounded latency percentiles."""

from __future__ import annotations

import random
import threading

import pytest
import responses
from responses import registries

from tinkex.core.errors import APIConnectionError, NotFoundError
from tinkex.core.metrics import BUCKETS, LatencyHistogram, Metrics

from .conftest import BASE

PET = {"id": 1, "name": "Rex", "species": "dog"}


def test_percentiles_are_within_about_one_percent():
    rng = random.Random(3)
    samples = [rng.lognormvariate(-3, 1.2) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for s in samples:
        histogram.record(s)
    ordered = sorted(samples)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        assert histogram.percentile(q) == pytest.approx(exact, rel=0.015), q
    assert histogram.max == max(samples) and histogram.count == len(samples)


def test_memory_is_bounded_whatever_the_latencies():
    histogram = LatencyHistogram()
    for exponent in range(-9, 6):  # from a nanosecond to a day
        for mantissa in range(1, 1000):
            histogram.record(mantissa * 10.0 ** exponent)
    assert len(histogram.counts) <= BUCKETS
    assert histogram.percentile(1.0) == histogram.max
    assert LatencyHistogram().percentile(0.5) == 0.0


def test_counts_successes_failures_by_status_and_retries(make_engine, clock):
    engine = make_engine()
    with responses.RequestsMock(registry=registries.OrderedRegistry) as mock:
        mock.get(f"{BASE}/pets/1", status=503)
        mock.get(f"{BASE}/pets/1", json=PET)
        mock.get(f"{BASE}/pets/2", status=404, json={"detail": "no"})
        mock.get(f"{BASE}/pets/3", body=ConnectionError("refused"))
        mock.get(f"{BASE}/pets/3", body=ConnectionError("refused"))
        mock.get(f"{BASE}/pets/3", body=ConnectionError("refused"))
        mock.get(f"{BASE}/pets/3", body=ConnectionError("refused"))
        engine.call("get_pet", pet_id=1)
        with pytest.raises(NotFoundError):
            engine.call("get_pet", pet_id=2)
        with pytest.raises(APIConnectionError):
            engine.call("get_pet", pet_id=3)
    stats = engine.metrics.snapshot()["get_pet"]
    assert (stats.calls, stats.successes, stats.retries) == (3, 1, 1 + 3)
    assert dict(stats.failures) == {"404": 1, "connection_error": 1}
    assert stats.failure_count == 2
    assert stats.latency.count == 3
    # fake clock: only backoff sleeps take time (0.01 for pet 1; 0.01 + 0.02 + 0.04 for pet 3)
    assert stats.latency.max == pytest.approx(0.07) and stats.latency.p50 == pytest.approx(0.01, rel=0.02)


def test_snapshot_with_reset_starts_again_and_metrics_can_be_off(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        engine.call("get_pet", pet_id=1)
        first = engine.metrics.snapshot(reset=True)
        assert first.calls == 1 and "get_pet" in first and first.failures == 0
        assert engine.metrics.snapshot().calls == 0
        engine.metrics = None
        engine.call("get_pet", pet_id=1)  # nothing recorded, nothing breaks


def test_recording_is_thread_safe():
    metrics = Metrics()

    def work() -> None:
        for i in range(2000):
            metrics.record("op", 0.001 * (i % 7 + 1), 1 + i % 2, None if i % 3 else "500")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = metrics.snapshot()["op"]
    assert stats.calls == 8000 and stats.latency.count == 8000
    assert stats.successes + stats.failures["500"] == 8000 and stats.retries == 4000
