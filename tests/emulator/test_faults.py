"""One test per fault flag, plus seeding and the environment variables that set them."""

from __future__ import annotations

import time

import pytest
import requests
from emulator_client import Client, StartEmulator, fwd_body, wait_until

from tinkex.emulator import FaultConfig
from tinkex.emulator.config import parse_config

CAPABILITIES = "/api/v1/get_server_capabilities"


def _sampler(client: Client) -> str:
    return str(client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": client.session_id(), "sampling_session_seq_id": 0,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"])


def test_5xx_rate(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(faults=FaultConfig(rate_5xx=1.0)).base_url)
    response = client.get(CAPABILITIES)
    assert response.status_code in (500, 502, 503)
    assert "injected" in response.json()["detail"]
    assert client.get("/api/v1/healthz").status_code == 200


def test_faults_are_reproducible_from_the_seed(start_emulator: StartEmulator) -> None:
    def statuses(seed: int) -> list[int]:
        client = Client(start_emulator(faults=FaultConfig(seed=seed, rate_5xx=0.5)).base_url)
        return [client.get(CAPABILITIES).status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert 200 in first and any(s >= 500 for s in first)
    assert first != statuses(8)


def test_429_rate_applies_to_asample_only(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(faults=FaultConfig(rate_429=1.0)).base_url)
    sampler = _sampler(client)
    response = client.post("/api/v1/asample", {
        "prompt": {"chunks": [{"tokens": [1, 2]}]}, "sampling_params": {"max_tokens": 2},
        "sampling_session_id": sampler, "seq_id": 0})
    assert response.status_code == 429


def test_drop_rate_closes_the_connection_without_an_answer(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(faults=FaultConfig(drop_rate=1.0)).base_url)
    with pytest.raises(requests.ConnectionError):
        client.get(CAPABILITIES)
    assert client.get("/api/v1/healthz").status_code == 200


def test_latency_is_added_to_api_requests(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(faults=FaultConfig(latency=0.3)).base_url)
    started = time.monotonic()
    assert client.get(CAPABILITIES).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_hold_answers_the_first_poll_408_after_holding(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(faults=FaultConfig(hold=0.3)).base_url)
    model = client.model()
    request_id = client.submit("/api/v1/forward", fwd_body(model, 1))
    started = time.monotonic()
    assert client.poll(request_id).status_code == 408
    assert time.monotonic() - started >= 0.3
    assert client.poll(request_id).status_code == 200


def test_pause_reports_the_queue_state_then_runs(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(poll_hold=0.1, faults=FaultConfig(
        pause_state="paused_capacity", pause_seconds=0.5))
    client = Client(emulator.base_url)
    session = client.session_id()
    future = client.ok("POST", "/api/v1/create_model", {
        "session_id": session, "model_seq_id": 0, "base_model": "tinkex/micro-lm"})
    response = client.poll(future["request_id"])
    assert response.status_code == 408
    body = response.json()
    assert body["queue_state"] == "paused_capacity" and "capacity" in body["queue_state_reason"]
    assert client.result(future["request_id"])["model_id"] == future["model_id"]


def test_a_paused_queue_is_reported_despite_a_long_poll_hold(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(poll_hold=20.0, faults=FaultConfig(
        pause_state="paused_rate_limit", pause_seconds=3.0))
    client = Client(emulator.base_url)
    future = client.ok("POST", "/api/v1/create_model", {
        "session_id": client.session_id(), "model_seq_id": 0, "base_model": "tinkex/micro-lm"})
    started = time.monotonic()
    response = client.poll(future["request_id"])
    assert response.status_code == 408 and response.json()["queue_state"] == "paused_rate_limit"
    assert time.monotonic() - started < 2.5  # not held for the whole 20 s poll hold


def test_future_retention_expires_results(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(future_retention=0.2).base_url)
    request_id = client.submit("/api/v1/forward", fwd_body(client.model(), 1))
    client.result(request_id)
    wait_until(lambda: client.poll(request_id).status_code == 410, "the future to expire")


def test_flags_come_from_the_environment_and_the_command_line_wins(tmp_path) -> None:
    env = {"TINKEX_EMULATOR_FAULT_5XX_RATE": "0.25", "TINKEX_EMULATOR_FAULT_SEED": "9",
           "TINKEX_EMULATOR_FAULT_PAUSE": "paused_rate_limit:2",
           "TINKEX_EMULATOR_ALIAS": "a=tinkex/tiny-lm, b=tinkex/micro-lm",
           "TINKEX_EMULATOR_POLL_HOLD": "3"}
    config = parse_config(["--data-dir", str(tmp_path), "--poll-hold", "1"], env=env)
    assert config.faults == FaultConfig(seed=9, rate_5xx=0.25, pause_state="paused_rate_limit",
                                        pause_seconds=2.0)
    assert config.aliases == {"a": "tinkex/tiny-lm", "b": "tinkex/micro-lm"}
    assert config.poll_hold == 1.0
    with pytest.raises(SystemExit):
        parse_config(["--data-dir", str(tmp_path), "--fault-drop-rate", "1.5"], env={})


def test_corrupt_after_counts_optimizer_steps_per_run(tmp_path) -> None:
    from tinkex.emulator.http.faults import Faults

    config = parse_config(["--data-dir", str(tmp_path), "--fault-corrupt-after", "2"], env={})
    faults = Faults(config.faults)
    faults.note_optimizer_step("a")
    faults.note_optimizer_step("b")
    assert not faults.corrupted("a")
    faults.note_optimizer_step("a")
    assert faults.corrupted("a") and not faults.corrupted("b")
    assert not Faults(FaultConfig()).corrupted("a")
    with pytest.raises(SystemExit):
        parse_config(["--data-dir", str(tmp_path), "--fault-corrupt-after", "-1"], env={})
