"""What a ServiceClient sends from its configuration, seen on the wire (transport mocked)."""

from __future__ import annotations

import json

import pytest
import responses

import tinkex
from tinkex import types

BASE = "http://tinker.test"
KEY = "tml-CANARY-0123456789"
CF_SECRET = "cf-SECRET-0123456789"


def _mock_service() -> dict[str, list[dict]]:
    seen: dict[str, list[dict]] = {"create_session": [], "telemetry": [], "finish": []}

    def record(name: str, reply: dict):
        def callback(request):
            seen[name].append({"body": json.loads(request.body), "headers": dict(request.headers)})
            return 200, {}, json.dumps(reply)
        return callback

    responses.add_callback(responses.POST, f"{BASE}/api/v1/create_session",
                           callback=record("create_session", {"session_id": "S"}),
                           content_type="application/json")
    responses.add_callback(responses.POST, f"{BASE}/api/v1/telemetry",
                           callback=record("telemetry", {"status": "accepted"}),
                           content_type="application/json")
    responses.add_callback(responses.POST, f"{BASE}/api/v1/sessions/S/finish",
                           callback=record("finish", {}), content_type="application/json")
    responses.post(f"{BASE}/api/v1/session_heartbeat", json={})
    responses.post(f"{BASE}/api/v1/create_sampling_session",
                   json={"sampling_session_id": "S:sample:0"})
    return seen


@responses.activate
def test_environment_reaches_the_session_and_secrets_stay_out_of_telemetry(monkeypatch):
    monkeypatch.setenv("TINKER_TAGS", "b, a,b")
    monkeypatch.setenv("TINKER_PROJECT_ID", "proj-7")
    monkeypatch.setenv("CLOUDFLARE_ACCESS_CLIENT_ID", "cf-id")
    monkeypatch.setenv("CLOUDFLARE_ACCESS_CLIENT_SECRET", CF_SECRET)
    monkeypatch.setenv("TINKER_TELEMETRY", "1")
    seen = _mock_service()
    with tinkex.ServiceClient(base_url=BASE, api_key=KEY, user_metadata={"team": "x"},
                              wire_format="json") as service:
        service.create_sampling_client(base_model="tinkex/tiny-lm")
        assert KEY not in repr(service) and CF_SECRET not in repr(service._ctx.config)
        service._ctx.log_exception(RuntimeError(f"boom with {KEY} and {CF_SECRET}"), "test")
    create = seen["create_session"][0]
    assert create["body"]["tags"] == ["a", "b"] and create["body"]["project_id"] == "proj-7"
    assert create["body"]["user_metadata"] == {"team": "x"}
    assert create["headers"]["X-API-Key"] == KEY
    assert create["headers"]["CF-Access-Client-Id"] == "cf-id"
    assert create["headers"]["CF-Access-Client-Secret"] == CF_SECRET
    assert seen["finish"][0]["body"] == {"reason": {"type": "success"}}
    payloads = json.dumps([t["body"] for t in seen["telemetry"]])
    assert "boom with" in payloads and "UNHANDLED_EXCEPTION" in payloads
    assert KEY not in payloads and CF_SECRET not in payloads
    assert all(t["body"]["session_id"] == "S" for t in seen["telemetry"])


@responses.activate
def test_telemetry_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    seen = _mock_service()
    with tinkex.ServiceClient(base_url=BASE, api_key=KEY, wire_format="json") as service:
        service.create_sampling_client(base_model="tinkex/tiny-lm")
        service._ctx.log_exception(RuntimeError("boom"), "test")
    assert seen["telemetry"] == []


def test_a_key_without_the_prefix_is_refused_without_showing_it(monkeypatch):
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    with pytest.raises(tinkex.ConfigError, match="must start with 'tml-'") as info:
        tinkex.ServiceClient(base_url=BASE, api_key="sk-secret-value")
    assert "sk-secret-value" not in str(info.value)
    with pytest.raises(tinkex.ConfigError, match="TINKER_API_KEY"):
        tinkex.ServiceClient(base_url=BASE)


def test_types_are_exported_with_the_official_names():
    for name in ("ModelInput", "EncodedTextChunk", "ImageChunk", "ImageAssetPointerChunk",
                 "TensorData", "Datum", "AdamParams", "SamplingParams", "SampleResponse",
                 "SampledSequence", "ForwardBackwardOutput", "LoraConfig", "Checkpoint",
                 "TrainingRun", "Cursor", "GetInfoResponse"):
        assert isinstance(getattr(types, name), type), name


def test_a_built_context_is_immutable():
    from tinkex._context import ClientContext

    context = ClientContext(api_key="tml-immutable", base_url="http://127.0.0.1:9",
                            with_session=False, environ={})
    try:
        with pytest.raises(AttributeError, match="immutable.*'engine'"):
            context.engine = None  # type: ignore[assignment]
        assert context.counters.next("model") == 0  # its changing state lives in owned objects
        assert context.counters.next("model") == 1
    finally:
        context.close()
