"""API keys: required with the tml- prefix; each key sees only its own things and public checkpoints."""

from __future__ import annotations

import requests
from emulator_client import Client, fb_body

from tinkex.emulator import Emulator


def test_keys_are_required_except_for_health_and_the_document(shared_emulator: Emulator) -> None:
    base = shared_emulator.base_url
    missing = requests.get(base + "/api/v1/training_runs", timeout=10)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    wrong = requests.get(base + "/api/v1/training_runs", headers={"X-API-Key": "sk-123"},
                         timeout=10)
    assert wrong.status_code == 401 and "tml-" in wrong.json()["detail"]
    assert requests.get(base + "/api/v1/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(base + "/openapi.json", timeout=10).status_code == 200


def test_another_owner_sees_404_everywhere(client: Client) -> None:
    session = client.session_id()
    model = client.model(session)
    client.run("/api/v1/save_weights", {"model_id": model, "path": "mine", "seq_id": 1})
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 0,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"]
    path = f"tinker://{model}/weights/mine"
    other = Client(client.base_url, "tml-other-tenant")
    checks = [
        other.get(f"/api/v1/sessions/{session}"),
        other.post("/api/v1/session_heartbeat", {"session_id": session}),
        other.post("/api/v1/get_info", {"model_id": model}),
        other.post("/api/v1/forward_backward", fb_body(model, 2)),
        other.get(f"/api/v1/training_runs/{model}"),
        other.get(f"/api/v1/training_runs/{model}/checkpoints"),
        other.session.delete(
            other.base_url + f"/api/v1/training_runs/{model}/checkpoints/weights/mine"),
        other.get(f"/api/v1/samplers/{sampler}"),
        other.post("/api/v1/weights_info", {"tinker_path": path}),
        other.post("/api/v1/create_model", {"session_id": session, "model_seq_id": 5,
                                            "base_model": "tinkex/micro-lm"}),
    ]
    assert [r.status_code for r in checks] == [404] * len(checks)
    assert model not in str(other.ok("GET", "/api/v1/training_runs"))
    assert other.ok("GET", "/api/v1/checkpoints")["checkpoints"] == []


def test_public_checkpoints_are_reachable_by_other_owners(client: Client) -> None:
    model = client.model()
    client.run("/api/v1/save_weights", {"model_id": model, "path": "shared", "seq_id": 1})
    client.run("/api/v1/save_weights", {"model_id": model, "path": "private", "seq_id": 2})
    path = f"tinker://{model}/weights/shared"
    other = Client(client.base_url, "tml-reader")
    assert other.post("/api/v1/weights_info", {"tinker_path": path}).status_code == 404
    assert client.post(f"/api/v1/training_runs/{model}/checkpoints/weights/shared/publish"
                       ).status_code == 200
    owned = other.ok("GET", "/api/v1/training_runs?access_scope=owned")["training_runs"]
    accessible = other.ok("GET", "/api/v1/training_runs?access_scope=accessible")
    assert model not in [r["training_run_id"] for r in owned]
    assert model in [r["training_run_id"] for r in accessible["training_runs"]]
    listed = other.ok("GET", f"/api/v1/training_runs/{model}/checkpoints")["checkpoints"]
    assert [c["checkpoint_id"] for c in listed] == ["weights/shared"]
    info = other.ok("POST", "/api/v1/weights_info", {"tinker_path": path})
    assert info["base_model"] == "tinkex/micro-lm" and info["lora_rank"] == 4
    loaded = other.run("/api/v1/load_weights", {"session_id": other.session_id(),
                                                "model_seq_id": 0, "path": path})
    assert loaded["model_id"].endswith(":train:0")
    private = f"tinker://{model}/weights/private"
    assert other.post("/api/v1/weights_info", {"tinker_path": private}).status_code == 404


def test_copies_between_accounts_need_a_public_checkpoint_or_an_access_token(
        client: Client) -> None:
    alice, bob = client, Client(client.base_url, key="tml-bob-copies")
    model = alice.model(alice.session_id())
    saved = alice.run("/api/v1/save_weights", {"model_id": model, "path": "private",
                                               "seq_id": 1})["path"]
    copy = {"source_path": saved, "destination_project_id": "bob-archive"}
    assert bob.post("/api/v1/copy_weights", copy).status_code == 404
    # alice's JWT works as a weights access token for her checkpoints
    token = alice.ok("POST", "/api/v1/auth/token", {})["jwt"]
    answer = bob.post("/api/v1/copy_weights", copy,
                      headers={"X-Tinker-Weights-Access-Token": token,
                               "X-Idempotency-Key": "copy-1"})
    assert answer.status_code == 200, answer.text
    path = answer.json()["tinker_path"]
    assert path.endswith("/weights/private") and not path.startswith(saved.split("/")[2])
    again = bob.post("/api/v1/copy_weights", copy,
                     headers={"X-Tinker-Weights-Access-Token": token,
                              "X-Idempotency-Key": "copy-1"})
    assert again.json()["tinker_path"] == path  # a retried copy is the same copy
    run_id = path.removeprefix("tinker://").split("/")[0]
    listed = bob.ok("GET", f"/api/v1/training_runs/{run_id}/checkpoints")["checkpoints"]
    assert [c["checkpoint_id"] for c in listed] == ["weights/private"]
    # the copy cannot be trained on, and alice's project is hers
    assert bob.post("/api/v1/forward_backward", fb_body(run_id, 1)).status_code == 400
    taken = alice.post("/api/v1/copy_weights", {"source_path": saved,
                                                "destination_project_id": "bob-archive"})
    assert taken.status_code == 403
    # deleting alice's original leaves bob's copy (shared storage) loadable
    alice.session.delete(f"{alice.base_url}/api/v1/training_runs/{model}/checkpoints/"
                         "weights/private")
    info = bob.ok("POST", "/api/v1/weights_info", {"tinker_path": path})
    assert info["base_model"] == "tinkex/micro-lm"
    created = bob.run("/api/v1/load_weights", {"session_id": bob.session_id(),
                                               "model_seq_id": 0, "path": path})
    assert created["model_id"].endswith(":train:0")
