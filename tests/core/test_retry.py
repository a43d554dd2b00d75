"""The retry loop: schedule, Retry-After, x-should-retry, budgets, idempotency, per-call options.

Engine-level tests go through ``responses``; the clock is fake, so "sleeping"
only records the delay.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from typing import Any

import pytest
import requests
import responses
from responses import registries

from tinkex.core.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
)
from tinkex.core.options import RequestOptions
from tinkex.core.retry import Backoff, RetryLoop, RetryPolicy, StatusSet, retry_after_seconds
from tinkex.core.transport import Headers, Response

from .conftest import BASE, FakeClock

PETS = f"{BASE}/pets"
NEW_PET = {"name": "Rex", "species": "dog"}
PET = {"id": 1, "name": "Rex", "species": "dog"}


@pytest.fixture
def mock():
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        yield rsps


def _headers(mock: responses.RequestsMock, name: str) -> list[str | None]:
    return [call.request.headers.get(name) for call in mock.calls]


def without_rate_limit(doc: dict[str, Any]) -> None:
    doc.pop("x-tinkex-rate-limit")
    doc["paths"]["/jobs/poll"]["post"].pop("x-tinkex-rate-limited")


def with_should_retry(doc: dict[str, Any]) -> None:
    doc["x-tinkex-retry-policies"]["standard"]["should_retry_header"] = "x-should-retry"


# ---- the schedule -----------------------------------------------------------------------


def test_retries_a_503_with_exponential_backoff_one_key_and_counted_attempts(mock, make_engine, clock):
    mock.post(PETS, status=503)
    mock.post(PETS, status=503)
    mock.post(PETS, json=PET)
    pet = make_engine().call("create_pet", **NEW_PET)
    assert pet.id == 1
    assert clock.sleeps == pytest.approx([0.01, 0.02])
    assert _headers(mock, "X-Retry-Count") == ["0", "1", "2"]
    keys = _headers(mock, "Idempotency-Key")
    assert len(set(keys)) == 1 and uuid.UUID(str(keys[0]))


def test_backoff_is_capped_and_jittered(clock):
    policy = RetryPolicy("p", max_attempts=6, statuses=StatusSet((503,)),
                         backoff=Backoff(initial=1, multiplier=3, max=5, jitter=0.5))
    loop = RetryLoop(sleep=clock.sleep, clock=clock, random=lambda: 1.0)
    response, report = loop.run(policy, lambda n: _response(503))
    assert clock.sleeps == pytest.approx([0.5, 1.5, 2.5, 2.5, 2.5])
    assert report.attempts == 6 and report.exhausted and report.last_status == 503


def test_four_xx_is_not_retried(mock, make_engine, clock):
    mock.get(f"{PETS}/9", status=404, json={"detail": "no such pet"})
    with pytest.raises(NotFoundError) as info:
        make_engine().call("get_pet", pet_id=9)
    assert len(mock.calls) == 1 and clock.sleeps == []
    assert info.value.attempts == 1 and "attempts" not in str(info.value)


def test_exhaustion_says_attempts_time_and_last_status(mock, make_engine, clock):
    for _ in range(4):
        mock.post(PETS, status=503, json={"detail": "busy"})
    with pytest.raises(InternalServerError) as info:
        make_engine().call("create_pet", **NEW_PET)
    err = info.value
    assert len(mock.calls) == 4
    assert (err.attempts, err.last_status, err.status_code) == (4, 503, 503)
    assert err.elapsed == pytest.approx(sum(clock.sleeps)) and err.elapsed > 0
    assert "retries exhausted: 4 attempts in 0.07 s, last status 503" in str(err)
    assert "create_pet: POST /pets -> HTTP 503: busy" in str(err)


def test_time_budget_stops_before_a_retry_that_would_end_past_it(clock):
    policy = RetryPolicy("p", max_attempts=None, budget_seconds=0.05, statuses=StatusSet(("5XX",)),
                         backoff=Backoff(initial=0.02, multiplier=1, max=1))
    loop = RetryLoop(sleep=clock.sleep, clock=clock, random=lambda: 0.0)
    _, report = loop.run(policy, lambda n: _response(500))
    assert clock.sleeps == pytest.approx([0.02, 0.02])  # a third wait would end at 0.06 > 0.05
    assert report.attempts == 3 and report.exhausted


def test_status_classes_match_the_whole_hundred():
    statuses = StatusSet((429, "5XX"))
    assert [s in statuses for s in (429, 500, 599, 400, 428, 600)] == [True] * 3 + [False] * 3
    assert list(statuses) == [429, "5XX"]


# ---- server directions ------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "0.5"}, 0.5),
    ({"retry-after-ms": "250", "retry-after": "0.9"}, 0.25),
    ({"retry-after": "5"}, 0.01),  # beyond retry_after.max_seconds (1): normal backoff
    ({"retry-after": "0"}, 0.01),
    ({"retry-after": "soon"}, 0.01),
])
def test_retry_after_is_honoured_when_small_enough(mock, make_engine, variant, clock, headers,
                                                  expected):
    # Without the shared rate limiter (tests/core/test_resilience.py), which adds its own window.
    table = variant(without_rate_limit)
    mock.post(PETS, status=429, headers=headers)
    mock.post(PETS, json=PET)
    make_engine(table).call("create_pet", **NEW_PET)
    assert clock.sleeps == pytest.approx([expected])


def test_retry_after_accepts_an_http_date():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(Headers([("Retry-After", date)]), now=lambda: now) == \
        pytest.approx(30, abs=1)


def test_should_retry_false_wins_over_a_retryable_status(mock, variant, make_engine):
    mock.post(PETS, status=503, headers={"x-should-retry": "false"})
    with pytest.raises(InternalServerError):
        make_engine(variant(with_should_retry)).call("create_pet", **NEW_PET)
    assert len(mock.calls) == 1


def test_should_retry_true_wins_over_a_final_status(mock, variant, make_engine):
    mock.post(PETS, status=400, headers={"X-Should-Retry": "true"})
    mock.post(PETS, json=PET)
    assert make_engine(variant(with_should_retry)).call("create_pet", **NEW_PET).id == 1
    assert len(mock.calls) == 2


def test_should_retry_header_is_ignored_when_the_policy_does_not_name_it(mock, make_engine):
    mock.post(PETS, status=400, headers={"x-should-retry": "true"})
    with pytest.raises(BadRequestError):
        make_engine().call("create_pet", **NEW_PET)
    assert len(mock.calls) == 1


# ---- connection failures ---------------------------------------------------------------


def test_connection_errors_are_retried_then_raised_wrapped(mock, make_engine, clock):
    for _ in range(4):
        mock.post(PETS, body=requests.ConnectionError("refused"))
    with pytest.raises(APIConnectionError) as info:
        make_engine().call("create_pet", **NEW_PET)
    err = info.value
    assert not isinstance(err, requests.RequestException)
    assert isinstance(err.__cause__, requests.ConnectionError)
    assert err.attempts == 4 and len(clock.sleeps) == 3
    assert "retries exhausted: 4 attempts" in str(err) and "no response" in str(err)


def test_a_timeout_then_success(mock, make_engine):
    mock.post(PETS, body=requests.ReadTimeout("slow"))
    mock.post(PETS, json=PET)
    assert make_engine().call("create_pet", **NEW_PET).id == 1
    assert _headers(mock, "X-Retry-Count") == ["0", "1"]


def test_single_attempt_policy_raises_the_timeout_at_once(mock, make_engine):
    mock.post(f"{BASE}/jobs/poll", body=requests.ConnectTimeout("slow"))
    with pytest.raises(APITimeoutError) as info:
        make_engine().call("get_job", job_id="j1")
    assert info.value.attempts == 1 and len(mock.calls) == 1


# ---- per-call and per-client options -----------------------------------------------------


def test_retry_false_sends_exactly_once(mock, make_engine):
    mock.post(PETS, status=503)
    with pytest.raises(InternalServerError):
        make_engine().send("create_pet", body=NEW_PET, options=RequestOptions(retry=False))
    assert len(mock.calls) == 1


@pytest.mark.parametrize(("max_retries", "calls"), [(0, 1), (1, 2), (5, 6)])
def test_per_call_max_retries_overrides_the_policy(mock, make_engine, max_retries, calls):
    for _ in range(calls):
        mock.post(PETS, status=503)
    with pytest.raises(InternalServerError) as info:
        make_engine().call("create_pet", RequestOptions(max_retries=max_retries), **NEW_PET)
    assert len(mock.calls) == calls == info.value.attempts


def test_client_max_retries_applies_to_retrying_policies_only(mock, make_engine):
    engine = make_engine(max_retries=1)
    mock.post(PETS, status=503)
    mock.post(PETS, status=503)
    mock.post(f"{BASE}/jobs/poll", status=503)
    with pytest.raises(InternalServerError):
        engine.call("create_pet", **NEW_PET)
    with pytest.raises(InternalServerError):
        engine.call("get_job", job_id="j")  # policy "none" stays single-attempt
    assert [c.request.url for c in mock.calls] == [PETS, PETS, f"{BASE}/jobs/poll"]


def test_caller_idempotency_key_is_reused_by_every_retry(mock, make_engine):
    mock.post(PETS, status=502)
    mock.post(PETS, json=PET)
    make_engine().call("create_pet", RequestOptions(idempotency_key="mine-1"), **NEW_PET)
    assert _headers(mock, "Idempotency-Key") == ["mine-1", "mine-1"]


def test_each_call_gets_a_new_key_and_gets_carry_none(mock, make_engine):
    mock.post(PETS, json=PET)
    mock.post(PETS, json=PET)
    mock.get(f"{PETS}/1", json=PET)
    engine = make_engine()
    engine.call("create_pet", **NEW_PET)
    engine.call("create_pet", **NEW_PET)
    engine.call("get_pet", pet_id=1)
    first, second, get = _headers(mock, "Idempotency-Key")
    assert first and second and first != second and get is None


def test_retries_are_logged_at_debug_only(mock, make_engine, caplog):
    mock.post(PETS, status=503)
    mock.post(PETS, json=PET)
    with caplog.at_level("DEBUG", logger="tinkex"):
        make_engine().call("create_pet", **NEW_PET)
    [record] = [r for r in caplog.records if r.name == "tinkex.core.retry"]
    assert record.levelname == "DEBUG" and "HTTP 503" in record.getMessage()


def _response(status: int) -> Response:
    return Response(status, Headers(), b"", 0.0, "GET", "http://x.test/")


def test_retry_loop_needs_no_engine(clock: FakeClock):
    seen: list[int] = []

    def attempt(n: int) -> Response:
        seen.append(n)
        return _response(503 if n < 2 else 200)

    policy = RetryPolicy("p", max_attempts=5, statuses=StatusSet(("5XX",)))
    response, report = RetryLoop(sleep=clock.sleep, clock=clock, random=lambda: 0.0).run(policy, attempt)
    assert response.status == 200 and seen == [0, 1, 2] and not report.exhausted
