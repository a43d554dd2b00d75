"""Durable state: restarts, checkpoint TTLs, archives, publishing, deletion and listings."""

from __future__ import annotations

import io
import tarfile
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from emulator_client import Client, StartEmulator, fb_body, fwd_body, optim_body, wait_until
from safetensors.numpy import load as load_safetensors


def _trained(client: Client) -> tuple[str, str]:
    """A model trained one step and saved as weights/w1; returns (model, path)."""
    model = client.model()
    client.run("/api/v1/forward_backward", fb_body(model, 1))
    client.run("/api/v1/optim_step", optim_body(model, 2))
    path = client.run("/api/v1/save_weights", {"model_id": model, "path": "w1", "seq_id": 3})
    return model, path["path"]


def test_a_restarted_emulator_keeps_runs_checkpoints_and_training(
        start_emulator: StartEmulator, tmp_path) -> None:
    first = start_emulator(data_dir=tmp_path / "d")
    client = Client(first.base_url)
    model, path = _trained(client)
    forward = client.submit("/api/v1/forward", fwd_body(model, 4))
    loss = client.result(forward)["metrics"]["loss:sum"]
    runs = client.ok("GET", "/api/v1/training_runs")
    checkpoints = client.ok("GET", "/api/v1/checkpoints")
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": client.session_id(), "sampling_session_seq_id": 0,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"]
    join = ("POST", "/api/v1/join_sampling_session", {"sampling_session_id": sampler})
    assert client.ok(*join)["client_counter"] == 1
    first.stop()

    client = Client(start_emulator(data_dir=tmp_path / "d").base_url)
    assert client.ok("GET", "/api/v1/training_runs") == runs
    assert client.ok("GET", "/api/v1/checkpoints") == checkpoints
    assert client.poll(forward).status_code == 410  # futures do not survive; clients resubmit
    assert client.ok(*join)["client_counter"] == 2  # a block is never issued twice
    # The old model id continues its sequence, rebuilt from its newest checkpoint.
    assert client.run("/api/v1/forward", fwd_body(model, 5))["metrics"]["loss:sum"] == loss
    # A new model created from the checkpoint computes the same loss.
    created = client.run("/api/v1/load_weights", {
        "session_id": client.session_id(), "model_seq_id": 0, "path": path, "optimizer": True})
    again = client.run("/api/v1/forward", fwd_body(created["model_id"], 1))
    assert again["metrics"]["loss:sum"] == loss


def test_checkpoint_ttl_expires(client: Client) -> None:
    model = client.model()
    saved = client.run("/api/v1/save_weights", {"model_id": model, "path": "short",
                                                "seq_id": 1, "ttl_seconds": 1})
    listed = client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints")["checkpoints"]
    assert [c["checkpoint_id"] for c in listed] == ["weights/short"] and listed[0]["expires_at"]
    wait_until(lambda: not client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints")[
        "checkpoints"], "the checkpoint to expire")
    r = client.post("/api/v1/load_weights", {"model_id": model, "seq_id": 2,
                                             "path": saved["path"]})
    assert r.status_code == 404


def test_set_ttl_validates_and_null_removes_the_expiry(client: Client) -> None:
    model = client.model()
    client.run("/api/v1/save_weights", {"model_id": model, "path": "c", "seq_id": 1,
                                        "ttl_seconds": 3600})
    url = f"/api/v1/training_runs/{model}/checkpoints/weights/c/ttl"
    assert client.session.put(client.base_url + url, json={"ttl_seconds": 0}).status_code == 400
    assert client.session.put(client.base_url + url, json={"ttl_seconds": None}).status_code == 200
    [checkpoint] = client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints")["checkpoints"]
    assert "expires_at" not in checkpoint


def test_archive_url_downloads_a_tar_gz_and_checks_its_signature(
        start_emulator: StartEmulator) -> None:
    client = Client(start_emulator().base_url)
    model, _ = _trained(client)
    answer = client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints/weights/w1/archive")
    assert answer["expires"]
    download = client.session.get(answer["url"], headers={"X-API-Key": ""})
    assert download.status_code == 200 and download.headers["content-type"] == "application/gzip"
    assert int(download.headers["content-length"]) == len(download.content)  # a real progress bar
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["adapter_model.safetensors", "checkpoint.json"]
        weights = tar.extractfile("adapter_model.safetensors").read()  # type: ignore[union-attr]
    assert any(k.startswith("adapter.") for k in load_safetensors(weights))
    payload, _, signature = answer["url"].rpartition("/")[2].partition(".")
    forged = answer["url"].replace(signature, signature[::-1])
    assert client.session.get(forged).status_code == 403


def test_an_expired_archive_url_is_410(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(archive_url_ttl=0.2).base_url)
    model, _ = _trained(client)
    url = client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints/weights/w1/archive")["url"]
    wait_until(lambda: client.session.get(url).status_code == 410, "the URL to expire")


def test_publish_unpublish_and_delete(client: Client) -> None:
    model = client.model()
    client.run("/api/v1/save_weights", {"model_id": model, "path": "p", "seq_id": 1})
    base = f"/api/v1/training_runs/{model}/checkpoints/weights/p"
    assert client.post(base + "/publish").status_code == 200
    assert client.post(base + "/publish").status_code == 409
    assert client.session.delete(client.base_url + base + "/publish").status_code == 200
    assert client.session.delete(client.base_url + base + "/publish").status_code == 409
    assert client.session.delete(client.base_url + base).status_code == 200
    assert client.session.delete(client.base_url + base).status_code == 404
    assert client.ok("GET", f"/api/v1/training_runs/{model}/checkpoints")["checkpoints"] == []


def test_user_checkpoints_are_listed_newest_first_with_a_cursor(
        start_emulator: StartEmulator) -> None:
    client = Client(start_emulator().base_url)
    model = client.model()
    for seq, name in enumerate(["a", "b", "c"], start=1):
        client.run("/api/v1/save_weights", {"model_id": model, "path": name, "seq_id": seq})
    page = client.ok("GET", "/api/v1/checkpoints?limit=2&offset=0")
    assert [c["checkpoint_id"] for c in page["checkpoints"]] == ["weights/c", "weights/b"]
    assert page["cursor"] == {"offset": 0, "limit": 2, "total_count": 3}
    rest = client.ok("GET", "/api/v1/checkpoints?limit=2&offset=2")
    assert [c["checkpoint_id"] for c in rest["checkpoints"]] == ["weights/a"]
    run = client.ok("GET", f"/api/v1/training_runs/{model}")
    assert run["last_checkpoint"]["checkpoint_id"] == "weights/c"
    session = model.rsplit(":train:", 1)[0]
    assert client.ok("GET", f"/api/v1/sessions/{session}")["training_run_ids"] == [model]
    assert session in client.ok("GET", "/api/v1/sessions")["sessions"]


def test_archive_url_is_a_redirect_for_clients_that_ask_for_the_archive(
        start_emulator: StartEmulator) -> None:
    """SDK <= 0.22.1 send Accept: application/gzip and read only the 302 form."""
    client = Client(start_emulator().base_url)
    model, _ = _trained(client)
    response = client.get(f"/api/v1/training_runs/{model}/checkpoints/weights/w1/archive",
                          headers={"Accept": "application/gzip"}, allow_redirects=False)
    assert response.status_code == 302
    assert "/_emulator/archives/" in response.headers["Location"]
    expires = parsedate_to_datetime(response.headers["Expires"])
    assert expires > datetime.now(timezone.utc)
    assert client.session.get(response.headers["Location"]).content[:2] == b"\x1f\x8b"


def test_a_published_checkpoint_archive_is_downloadable_by_another_key(client: Client) -> None:
    model = client.model()
    client.run("/api/v1/save_weights", {"model_id": model, "path": "shared", "seq_id": 1})
    archive = f"/api/v1/training_runs/{model}/checkpoints/weights/shared/archive"
    other = Client(client.base_url, key="tml-another-key")
    assert other.get(archive).status_code == 404  # private: not even its existence
    assert client.post(archive.removesuffix("/archive") + "/publish").status_code == 200
    url = other.ok("GET", archive)["url"]
    download = other.session.get(url)
    assert download.status_code == 200 and download.content[:2] == b"\x1f\x8b"  # a tar.gz
    client.session.delete(client.base_url + archive.removesuffix("/archive") + "/publish")
    assert other.get(archive).status_code == 404
