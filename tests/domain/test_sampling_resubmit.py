"""SamplingClient: a result that expired (410) is resubmitted with a new seq_id (transport mocked)."""

from __future__ import annotations

import json

import pytest
import responses

import tinkex
from tinkex import types

BASE = "http://tinker.test"


def _mock_session() -> None:
    """A session and a sampling session "S:sample:0" (plus heartbeat, telemetry, finish)."""
    responses.post(f"{BASE}/api/v1/create_session", json={"session_id": "S"})
    responses.post(f"{BASE}/api/v1/session_heartbeat", json={})
    responses.post(f"{BASE}/api/v1/telemetry", json={"status": "accepted"})
    responses.post(f"{BASE}/api/v1/sessions/S/finish", json={})
    responses.post(f"{BASE}/api/v1/create_sampling_session",
                   json={"sampling_session_id": "S:sample:0"})


def _json(request) -> dict:
    return json.loads(request.body)


@responses.activate
def test_an_expired_sample_is_resubmitted_with_a_new_seq_id():
    submits: list[dict] = []
    polls = {"count": 0}

    def asample(request):
        body = _json(request)
        submits.append(body)
        rid = f"r{len(submits)}"
        return 200, {}, json.dumps({"request_id": rid, "sample_sequence_ids": [f"{rid}-0"]})

    def retrieve(request):
        polls["count"] += 1
        if _json(request)["request_id"] == "r1":
            return 410, {}, json.dumps({"detail": "expired"})
        return 200, {}, json.dumps({"sequences": [
            {"stop_reason": "length", "tokens": [7, 8], "logprobs": [-0.1, -0.2]}]})

    _mock_session()
    responses.add_callback(responses.POST, f"{BASE}/api/v1/asample", callback=asample,
                           content_type="application/json")
    responses.add_callback(responses.POST, f"{BASE}/api/v1/retrieve_future", callback=retrieve,
                           content_type="application/json")

    retry = tinkex.RetryConfig(retry_delay_base=0.01, retry_delay_max=0.01)
    with tinkex.ServiceClient(base_url=BASE, api_key="tml-mock", wire_format="json") as service:
        sampler = service.create_sampling_client(base_model="tinkex/tiny-lm",
                                                 retry_config=retry)
        result = sampler.sample(types.ModelInput.from_ints([1, 2]), 1,
                                types.SamplingParams(max_tokens=2)).result(timeout=30)
    assert result.sequences[0].tokens == [7, 8]
    assert result.sequences[0].sequence_id == "r2-0"
    assert [s["seq_id"] for s in submits] == [0, 1]  # the resubmit took a fresh seq_id
    assert polls["count"] == 2


@responses.activate
def test_a_non_retryable_failure_is_not_resubmitted():
    _mock_session()
    asample = responses.post(f"{BASE}/api/v1/asample", json={"request_id": "r1",
                                                             "sample_sequence_ids": ["a"]})
    responses.post(f"{BASE}/api/v1/retrieve_future",
                   json={"error": "prompt too long", "category": "user"})
    with tinkex.ServiceClient(base_url=BASE, api_key="tml-mock", wire_format="json") as service:
        sampler = service.create_sampling_client(base_model="tinkex/tiny-lm")
        future = sampler.sample(types.ModelInput.from_ints([1]), 1,
                                types.SamplingParams(max_tokens=1))
        with pytest.raises(tinkex.RequestFailedError, match="prompt too long"):
            future.result(timeout=30)
    assert asample.call_count == 1
