"""The resilience stack: retry → admission → shared rate limiter → circuit breaker → transport.

Petstore engines on the fake clock (``responses`` for the transport), plus one
test over real HTTP with the loopback server.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import responses
from responses import registries

from tinkex.core.breaker import CLOSED, HALF_OPEN, OPEN
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine, EngineHooks
from tinkex.core.errors import (
    APIConnectionError,
    APIStatusError,
    CircuitOpenError,
    DocumentError,
    InternalServerError,
)
from tinkex.core.options import RequestOptions
from tinkex.core.ratelimit import RateLimiterRegistry

from .conftest import BASE, CANARY
from .loopback import Reply

PET = {"id": 1, "name": "Rex", "species": "dog"}
NEW_PET = {"name": "Rex", "species": "dog"}


@pytest.fixture
def mock():
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        yield rsps


class LoggingDispatcher:
    """Admission that logs when it admits and releases (and which statuses it was told)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @contextlib.contextmanager
    def acquire(self, operation, body_bytes_estimate):
        self.log.append("admit")
        try:
            yield
        finally:
            self.log.append("release")

    def note_status(self, operation, status):
        self.log.append(f"status {status}")


def dispatched(doc: dict[str, Any]) -> None:
    doc["x-tinkex-dispatch-limits"] = {"pets": {"max_in_flight": 2}}
    doc["paths"]["/pets/{pet_id}"]["get"]["x-tinkex-dispatch"] = "pets"


# ---- the order --------------------------------------------------------------------------


def test_layers_run_in_the_documented_order(mock, make_engine, variant, clock):
    log: list[str] = []

    def sleep(seconds: float) -> None:
        log.append(f"sleep {seconds:g}")
        clock.now += seconds

    clock.sleep = sleep  # type: ignore[method-assign]
    engine = make_engine(variant(dispatched), circuit_breaker=True,
                         hooks=EngineHooks(dispatcher=lambda engine: LoggingDispatcher(log)))
    engine.resilience.rate_limiter.pause(0.5, clock)
    mock.get(f"{BASE}/pets/1", status=503, headers={"Retry-After": "0.25"})
    mock.get(f"{BASE}/pets/1", json=PET)
    engine.call("get_pet", pet_id=1)
    # attempt 1: admitted, waits out the key's window, sent; the retry sleeps outside admission
    assert log == ["admit", "sleep 0.5", "status 503", "release", "sleep 0.25",
                   "admit", "status 200", "release"]


def test_an_open_breaker_fails_inside_admission_and_after_the_rate_limiter(mock, make_engine,
                                                                        variant, clock):
    log: list[str] = []
    engine = make_engine(variant(dispatched), circuit_breaker=True,
                         hooks=EngineHooks(dispatcher=lambda engine: LoggingDispatcher(log)))
    for _ in range(3):
        mock.get(f"{BASE}/pets/1", status=500)
    with pytest.raises(InternalServerError):
        engine.call("get_pet", RequestOptions(max_retries=2), pet_id=1)
    log.clear()
    with pytest.raises(CircuitOpenError):
        engine.call("get_pet", pet_id=1)
    assert log == ["admit", "release"] and len(mock.calls) == 3


# ---- the circuit breaker ----------------------------------------------------------------


def test_breaker_opens_after_the_threshold_and_fails_fast_with_a_clear_error(mock, make_engine,
                                                                           clock):
    engine = make_engine(circuit_breaker=True)
    for _ in range(3):
        mock.get(f"{BASE}/pets/1", status=503)
    with pytest.raises(CircuitOpenError) as info:
        engine.call("get_pet", pet_id=1)  # 3 failed attempts open it; the 4th is not sent
    assert len(mock.calls) == 3
    error = info.value
    assert "circuit breaker 'store' of operation get_pet is open after 3 failures" in str(error)
    assert error.breaker == "store (operation get_pet)" and error.retry_after == pytest.approx(5 - 0.04)
    assert not isinstance(error, APIConnectionError)  # never retried
    assert engine.resilience.breaker_states() == {"operation get_pet": OPEN}
    sleeps = list(clock.sleeps)
    with pytest.raises(CircuitOpenError):
        engine.call("get_pet", pet_id=1)
    assert clock.sleeps == sleeps and len(mock.calls) == 3  # failed fast: no wait, no request


def test_half_open_trial_closes_on_success_and_reopens_on_failure(mock, make_engine, clock):
    engine = make_engine(circuit_breaker=True)
    breaker = engine.resilience.breakers["operation get_pet"]
    for _ in range(3):
        mock.get(f"{BASE}/pets/1", status=502)
    mock.get(f"{BASE}/pets/1", status=500)
    mock.get(f"{BASE}/pets/1", json=PET)
    with pytest.raises(CircuitOpenError):
        engine.call("get_pet", pet_id=1)
    clock.now += 5
    assert breaker.state == HALF_OPEN
    with pytest.raises(CircuitOpenError):  # the trial fails: open again, the retry is refused
        engine.call("get_pet", pet_id=1)
    assert breaker.state == OPEN and len(mock.calls) == 4
    clock.now += 5
    assert engine.call("get_pet", pet_id=1).id == 1
    assert breaker.state == CLOSED


def test_half_open_lets_only_its_trial_calls_through(make_engine, clock):
    engine = make_engine(circuit_breaker=True)
    breaker = engine.resilience.breakers["operation get_pet"]
    for _ in range(3):
        breaker.record(True)
    clock.now += 5
    breaker.before("first")  # the one trial call
    with pytest.raises(CircuitOpenError, match="half-open, its trial call in flight"):
        breaker.before("second")
    breaker.record(None)  # neither success nor failure: the slot is free, still half-open
    breaker.before("third")
    assert breaker.state == HALF_OPEN


def test_client_errors_reset_the_count_and_throttling_leaves_it(mock, make_engine, variant):
    table = variant(lambda doc: doc["x-tinkex-retry-policies"]["standard"].update(max_attempts=1))
    engine = make_engine(table, circuit_breaker=True)
    breaker = engine.resilience.breakers["operation get_pet"]
    for status in (503, 503, 404, 503, 429, 503):
        mock.get(f"{BASE}/pets/1", status=status)
    for _ in range(6):
        with pytest.raises(APIStatusError):
            engine.call("get_pet", pet_id=1)
    assert breaker.state == CLOSED  # 503 503 | 404 | 503 (429) 503: never three in a row
    assert breaker._failures == 2


def test_breakers_are_off_unless_enabled_and_scoped_by_pool_or_operation(make_engine, variant):
    assert make_engine().resilience.breakers == {}  # the fixture's breaker is enabled: false
    assert make_engine(circuit_breaker=False).resilience.breakers == {}

    def pool_scoped(doc):
        doc["x-tinkex-circuit-breakers"]["store"].update(scope="pool", enabled=True)
        doc["x-tinkex-defaults"]["circuit_breaker"] = "store"
        doc["paths"]["/jobs/poll"]["post"]["x-tinkex-circuit-breaker"] = None
    engine = make_engine(variant(pool_scoped))
    resilience = engine.resilience
    assert set(resilience.breakers) == {"pool main"}  # get_job (pool polling) opted out
    main_ops = [op for op in engine.table if op.pool == "main"]
    assert {id(resilience.breaker_for(op)) for op in main_ops} == {id(resilience.breakers["pool main"])}
    assert resilience.breaker_for(engine.table["get_job"]) is None


def test_a_document_naming_an_unknown_breaker_is_refused(variant):
    with pytest.raises(DocumentError, match="x-tinkex-circuit-breaker: unknown circuit breaker 'x'"):
        variant(lambda doc: doc["paths"]["/pets"]["post"].update({"x-tinkex-circuit-breaker": "x"}))
    with pytest.raises(DocumentError, match="x-tinkex-circuit-breakers.store.scope"):
        variant(lambda doc: doc["x-tinkex-circuit-breakers"]["store"].update(scope="host"))
    with pytest.raises(DocumentError, match="x-tinkex-rate-limit.max_seconds"):
        variant(lambda doc: doc["x-tinkex-rate-limit"].update(max_seconds=-1))


# ---- the shared rate limiter ------------------------------------------------------------


def test_a_429_slows_every_client_of_the_same_key(mock, make_engine, clock):
    first, second = make_engine(), make_engine()
    other_key = make_engine(api_key="pet-OTHER-KEY-000")
    mock.post(f"{BASE}/pets", status=429, headers={"Retry-After": "2"})
    mock.get(f"{BASE}/pets/1", json=PET)
    mock.get(f"{BASE}/pets/1", json=PET)
    mock.post(f"{BASE}/pets", json=PET)
    start = clock.now
    with pytest.raises(APIStatusError):
        first.call("create_pet", RequestOptions(max_retries=0), **NEW_PET)
    # the other client of the key waits out the server's 2 s before sending anything
    second.call("get_pet", pet_id=1)
    assert clock.sleeps == pytest.approx([2.0]) and clock.now - start == pytest.approx(2.0)
    assert second.resilience.rate_limiter is first.resilience.rate_limiter
    other_key.call("get_pet", pet_id=1)  # another key is not slowed
    assert clock.sleeps == pytest.approx([2.0])
    first.call("create_pet", **NEW_PET)  # the window has passed
    assert clock.sleeps == pytest.approx([2.0])


def test_the_window_defaults_without_retry_after_and_is_capped(make_engine, clock):
    engine = make_engine()
    limiter = engine.resilience.rate_limiter
    spec = engine.table.rate_limit
    assert spec.window(None) == 0.5 and spec.window(0) == 0.5
    assert spec.window(2) == 2 and spec.window(600) == 5
    limiter.pause(1.0, clock)
    limiter.pause(0.2, clock)  # a shorter window never shortens the current one
    assert limiter.remaining(clock) == pytest.approx(1.0)


def test_an_operation_can_opt_out_of_waiting(mock, make_engine, clock):
    engine = make_engine()
    engine.resilience.rate_limiter.pause(3.0, clock)
    mock.post(f"{BASE}/jobs/poll", json={})
    engine.call("get_job", job_id="j")  # rate_limited: false
    assert clock.sleeps == []
    mock.get(f"{BASE}/pets/1", json=PET)
    engine.call("get_pet", pet_id=1)
    assert clock.sleeps == pytest.approx([3.0])


def test_limiters_are_keyed_without_holding_the_key():
    registry = RateLimiterRegistry()
    one = registry.for_key("http://a", "pet-SECRET-1")
    assert registry.for_key("http://a", "pet-SECRET-1") is one
    assert registry.for_key("http://b", "pet-SECRET-1") is not one
    assert registry.for_key("http://a", "pet-SECRET-2") is not one
    assert "SECRET" not in repr(registry._limiters)


# ---- over real HTTP ---------------------------------------------------------------------


def test_breaker_and_limiter_over_a_loopback_server(server, pet_table, pet_models):
    registry = RateLimiterRegistry()
    server.script("GET", "/pets/1", [Reply(500)] * 3 + [Reply(200, PET)])
    server.script("POST", "/pets", [Reply(429, {"detail": "slow down"},
                                          headers={"Retry-After-Ms": "150"}), Reply(200, PET)])

    def engine() -> Engine:
        cfg = ClientConfig.resolve(pet_table, api_key=CANARY, base_url=server.url, environ={},
                                   circuit_breaker=True)
        return Engine(pet_table, cfg, models_module=pet_models, rate_limiters=registry)

    first, second = engine(), engine()
    try:
        with pytest.raises(CircuitOpenError):
            first.call("get_pet", pet_id=1)
        assert len(server.received("/pets/1")) == 3
        assert second.call("get_pet", pet_id=1).id == 1  # breakers are per client
        with pytest.raises(APIStatusError):
            first.call("create_pet", RequestOptions(max_retries=0), **NEW_PET)
        rejected_at = server.received("/pets")[0].at
        second.call("create_pet", **NEW_PET)
        sent_at = server.received("/pets")[1].at
        assert sent_at - rejected_at >= 0.14  # the other client waited out the 150 ms
    finally:
        first.close()
        second.close()
