"""A resent sequenced request gets the first request's answer, never a conflict with itself.

Clients resend when an answer is lost after the server ran the request; the
duplicate check (same model and seq_id) must come before any check that the
first request's own effects would now fail.
"""

from __future__ import annotations

import pytest
import requests
from emulator_client import Client, StartEmulator, optim_body, wait_until

from tinkex.emulator import FaultConfig

EPHEMERAL = "/api/v1/save_weights_for_sampler"


def _ephemeral(model: str, seq_id: int) -> dict[str, object]:
    return {"model_id": model, "seq_id": seq_id, "sampling_session_seq_id": 0}


def test_resent_ephemeral_save_answers_with_the_first_future(client: Client) -> None:
    model = client.model()
    first = client.submit(EPHEMERAL, _ephemeral(model, 1))
    assert client.submit(EPHEMERAL, _ephemeral(model, 1)) == first
    out = client.result(first)
    assert out["sampling_session_id"].endswith(":sample:0")


def test_resent_ephemeral_save_after_its_future_is_forgotten(start_emulator: StartEmulator
                                                             ) -> None:
    emulator = start_emulator(future_retention=0.2)
    client = Client(emulator.base_url)
    model = client.model()
    first = client.submit(EPHEMERAL, _ephemeral(model, 1))
    sampler = client.result(first)["sampling_session_id"]
    wait_until(lambda: client.poll(first).status_code == 410, "the future to expire")
    again = client.result(client.submit(EPHEMERAL, _ephemeral(model, 1)))
    assert again["sampling_session_id"] == sampler


def test_a_new_request_for_a_taken_sampler_is_still_a_conflict(client: Client) -> None:
    session = client.session_id()
    model, other = client.model(session, 0), client.model(session, 1)
    client.run(EPHEMERAL, _ephemeral(model, 1))
    response = client.post(EPHEMERAL, _ephemeral(other, 1))
    assert response.status_code == 409, response.text


def test_resent_named_save_answers_with_the_first_future(client: Client) -> None:
    model = client.model()
    body = {"model_id": model, "seq_id": 1, "path": "ckpt"}
    first = client.submit("/api/v1/save_weights", body)
    path = client.result(first)["path"]
    assert client.submit("/api/v1/save_weights", body) == first
    assert path == f"tinker://{model}/weights/ckpt"
    # A new save under the same name is a conflict (the client must set overwrite).
    response = client.post("/api/v1/save_weights", {**body, "seq_id": 2})
    assert response.status_code == 409


def test_resent_optim_step_runs_once(client: Client) -> None:
    model = client.model()
    first = client.submit("/api/v1/optim_step", optim_body(model, 1))
    assert client.submit("/api/v1/optim_step", optim_body(model, 1)) == first


def test_lost_answer_runs_the_request_then_drops_the_connection(start_emulator: StartEmulator
                                                                ) -> None:
    emulator = start_emulator(faults=FaultConfig(lose_rate=1.0))
    client = Client(emulator.base_url)
    with pytest.raises(requests.ConnectionError):
        client.post("/api/v1/create_session", {"sdk_version": "0.24.1"})
    # The session was created: the request ran, only its answer was lost.
    assert len(emulator.services.store.all("SELECT session_id FROM sessions")) == 1
    assert client.get("/api/v1/healthz").status_code == 200
