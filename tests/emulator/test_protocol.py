"""The wire protocol end to end over HTTP: bootstrap, training, saving, sampling, bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from emulator_client import TEXT, Client, datum, fb_body, fwd_body, optim_body

from tinkex.emulator import Emulator


def test_client_config_is_exactly_the_json_only_flag_set(client: Client) -> None:
    # sample_join_sampling_session: the emulator serves join_sampling_session (SDK >= 0.32);
    # pjwt_auth_enabled: SDK >= 0.18 exchange the key for JWTs (plain keys keep working).
    config = client.ok("POST", "/api/v1/client/config", {"sdk_version": "0.24.1"})
    # the console's sign-in link for this key (tinkex reads it; the official SDK ignores it)
    assert config.pop("console_url").startswith(f"{client.base_url}/console/link/")
    assert config == {
        "pjwt_auth_enabled": True, "proto_write_fwdbwd": False, "proto_compress_fwdbwd": False,
        "use_pyqwest_transport": False, "sample_use_retrieve_futures": False,
        "custom_loss_server_side": False, "sample_join_sampling_session": True,
        "parallel_fwdbwd_chunks": True, "credential_default_source": "api_key"}
    assert client.ok("POST", "/api/v1/client/dynamic_config", {"sdk_version": "0.25.0"}) == {}
    events = [{"event": "SESSION_START", "event_id": "e1", "event_session_index": 0,
               "severity": "INFO", "timestamp": "2026-01-01T00:00:00Z"},
              {"event": "GENERIC_EVENT", "event_id": "e2", "event_session_index": 1,
               "severity": "WARNING", "timestamp": "2026-01-01T00:00:01Z",
               "event_name": "user_error", "event_data": {"headers": {"X-API-Key": "tml-x"}}}]
    assert client.ok("POST", "/api/v1/telemetry", {
        "events": events, "platform": "Linux", "sdk_version": "0.24.1",
        "session_id": "s"}) == {"status": "accepted"}


def test_capabilities_list_presets_and_aliases(client: Client) -> None:
    models = client.ok("GET", "/api/v1/get_server_capabilities")["supported_models"]
    names = [m["model_name"] for m in models]
    assert names == ["tinkex/micro-lm", "tinkex/tiny-lm", "Qwen/Qwen3-8B"]


def test_training_lowers_the_loss_and_get_info_describes_the_model(client: Client) -> None:
    session = client.session_id()
    model = client.model(session, base_model="Qwen/Qwen3-8B")
    assert model == f"{session}:train:0"
    info = client.ok("POST", "/api/v1/get_info", {"model_id": model})
    data = info["model_data"]
    assert {k: data[k] for k in ("arch", "model_name")} == {
        "arch": "tinkex-byte-transformer", "model_name": "Qwen/Qwen3-8B"}
    # The tokenizer is a directory of Hugging Face files that transformers loads offline.
    tokenizer_dir = Path(data["tokenizer_id"])
    assert ":" not in data["tokenizer_id"] and (tokenizer_dir / "tokenizer.json").is_file()
    assert json.loads((tokenizer_dir / "tokenizer_config.json").read_text())["chat_template"]
    assert info["lora_rank"] == 4 and info["is_lora"] is True
    losses = []
    for step in range(8):
        fb = client.submit("/api/v1/forward_backward", fb_body(model, 2 * step + 1, [datum()] * 4))
        client.submit("/api/v1/optim_step", optim_body(model, 2 * step + 2))
        out = client.result(fb)
        assert out["loss_fn_output_type"] == "ArrayRecord"
        assert len(out["loss_fn_outputs"]) == 4
        logprobs = out["loss_fn_outputs"][0]["logprobs"]
        assert logprobs["dtype"] == "float32" and logprobs["shape"] == [len(TEXT) - 1]
        losses.append(out["metrics"]["loss:sum"])
    assert losses[-1] < 0.5 * losses[0]


def test_old_sdk_bodies_without_type_and_defaults_are_accepted(client: Client) -> None:
    model = client.model()
    tokens = list(TEXT)
    body = {"forward_backward_input": {"data": [{
        "loss_fn_inputs": {"target_tokens": {"data": tokens[1:], "dtype": "int64"},
                           "weights": {"data": [1.0] * (len(tokens) - 1), "dtype": "float32"}},
        "model_input": {"chunks": [{"tokens": tokens[:-1]}]}}], "loss_fn": "cross_entropy"},
        "model_id": model, "seq_id": 1}
    assert "loss:sum" in client.run("/api/v1/forward_backward", body)["metrics"]
    assert client.run("/api/v1/optim_step", {"adam_params": {"learning_rate": 0.001},
                                             "model_id": model, "seq_id": 2})["metrics"]
    session = client.session_id()
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 0,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"]
    out = client.run("/api/v1/asample", {
        "num_samples": 2, "prompt": {"chunks": [{"tokens": [1, 2, 3]}]},
        "sampling_params": {"max_tokens": 5}, "sampling_session_id": sampler, "seq_id": 0,
        "prompt_logprobs": False})
    assert [len(s["tokens"]) <= 5 for s in out["sequences"]] == [True, True]


def test_sampling_returns_one_unique_sequence_id_per_sample(client: Client) -> None:
    session = client.session_id()
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 0,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"]
    assert sampler == f"{session}:sample:0"
    ids = set()
    for seq in range(2):
        future = client.ok("POST", "/api/v1/asample", {
            "num_samples": 3, "prompt": {"chunks": [{"tokens": TEXT[:4]}]},
            "sampling_params": {"max_tokens": 4, "seed": seq}, "sampling_session_id": sampler,
            "seq_id": seq, "prompt_logprobs": True, "topk_prompt_logprobs": 2})
        assert len(future["sample_sequence_ids"]) == 3
        ids.update(future["sample_sequence_ids"])
        out = client.result(future["request_id"])
        assert len(out["sequences"]) == 3
        assert out["prompt_logprobs"][0] is None and len(out["prompt_logprobs"]) == 4
        assert len(out["topk_prompt_logprobs"][1]) == 2
    assert len(ids) == 6
    assert client.ok("GET", f"/api/v1/samplers/{sampler}") == {
        "sampler_id": sampler, "base_model": "tinkex/micro-lm"}


def _sampler(client: Client, seq: int = 0) -> str:
    return str(client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": client.session_id(), "sampling_session_seq_id": seq,
        "base_model": "tinkex/micro-lm"})["sampling_session_id"])


def test_join_sampling_session_issues_each_copy_a_new_block(client: Client) -> None:
    first, second = _sampler(client), _sampler(client)

    def join(sampler: str) -> int:
        answer = client.ok("POST", "/api/v1/join_sampling_session",
                           {"sampling_session_id": sampler, "type": "join_sampling_session"})
        assert answer["type"] == "join_sampling_session"
        return int(answer["client_counter"])

    assert [join(first), join(first), join(second), join(first)] == [1, 2, 1, 3]
    missing = client.post("/api/v1/join_sampling_session", {"sampling_session_id": "nope"})
    assert missing.status_code == 404 and "nope" in missing.text
    stranger = Client(client.base_url, key="tml-someone-else")
    assert stranger.post("/api/v1/join_sampling_session",
                         {"sampling_session_id": first}).status_code == 404


def test_weights_save_load_and_sample_from_a_sampler_checkpoint(client: Client) -> None:
    session = client.session_id()
    model = client.model(session)
    client.run("/api/v1/forward_backward", fb_body(model, 1))
    client.run("/api/v1/optim_step", optim_body(model, 2))
    saved = client.run("/api/v1/save_weights", {"model_id": model, "path": "step-1", "seq_id": 3})
    assert saved["path"] == f"tinker://{model}/weights/step-1"
    named = client.run("/api/v1/save_weights_for_sampler",
                       {"model_id": model, "path": "s1", "seq_id": 4})
    assert named["path"] == f"tinker://{model}/sampler_weights/s1"
    ephemeral = client.run("/api/v1/save_weights_for_sampler",
                           {"model_id": model, "seq_id": 5, "sampling_session_seq_id": 1})
    assert ephemeral["sampling_session_id"] == f"{session}:sample:1"
    before = client.run("/api/v1/forward", fwd_body(model, 6))["metrics"]["loss:sum"]
    # Existing-model mode brings the weights back after more training.
    client.run("/api/v1/forward_backward", fb_body(model, 7))
    client.run("/api/v1/optim_step", optim_body(model, 8))
    client.run("/api/v1/load_weights", {"model_id": model, "seq_id": 9, "path": saved["path"],
                                        "optimizer": True})
    assert client.run("/api/v1/forward", fwd_body(model, 10))["metrics"]["loss:sum"] == before
    # Create mode makes a new model with the id the SDK computes itself.
    created = client.run("/api/v1/load_weights", {"session_id": session, "model_seq_id": 1,
                                                  "path": saved["path"], "optimizer": False})
    assert created["model_id"] == f"{session}:train:1"
    again = client.run("/api/v1/forward", fwd_body(created["model_id"], 1))
    assert again["metrics"]["loss:sum"] == before
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 2,
        "model_path": named["path"]})["sampling_session_id"]
    greedy = {"num_samples": 1, "prompt": {"chunks": [{"tokens": TEXT[:3]}]},
              "sampling_params": {"max_tokens": 6, "temperature": 0.0}, "seq_id": 0}
    a = client.run("/api/v1/asample", {**greedy, "sampling_session_id": sampler})
    b = client.run("/api/v1/asample", {**greedy, "sampling_session_id": ephemeral[
        "sampling_session_id"]})
    assert a["sequences"][0]["tokens"] == b["sequences"][0]["tokens"]


def test_image_chunks_take_expected_tokens_positions(client: Client) -> None:
    model = client.model()
    image = {"data": base64.b64encode(b"\x89PNG fake").decode(), "format": "png",
             "expected_tokens": 3}
    n = 3 + 4
    body = fb_body(model, 1, [{"model_input": {"chunks": [image, {"tokens": [1, 2, 3, 4]}]},
                               "loss_fn_inputs": {
                                   "target_tokens": {"data": [0] * n, "dtype": "int64"},
                                   "weights": {"data": [0.0] * 3 + [1.0] * 4,
                                               "dtype": "float32"}}}])
    out = client.run("/api/v1/forward_backward", body)
    assert out["loss_fn_outputs"][0]["logprobs"]["shape"] == [n]


def test_a_bad_loss_input_fails_the_future_as_a_user_error(client: Client) -> None:
    model = client.model()
    bad = datum()
    del bad["loss_fn_inputs"]["weights"]
    out = client.result(client.submit("/api/v1/forward_backward", fb_body(model, 1, [bad])))
    assert out["category"] == "user"
    assert "cross_entropy" in out["error"] and "weights" in out["error"]
    rl = datum()
    out = client.result(client.submit("/api/v1/forward_backward", {
        "model_id": model, "seq_id": 2,
        "forward_backward_input": {"data": [rl], "loss_fn": "ppo"}}))
    assert out["category"] == "user" and "ppo" in out["error"] and "logprobs" in out["error"]


def test_validation_errors_name_the_field(client: Client) -> None:
    model = client.model()
    body = fb_body(model, 1)
    body["forward_backward_input"]["loss_fn"] = "hinge"
    r = client.post("/api/v1/forward_backward", body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "forward_backward_input", "loss_fn"]
    r = client.post("/api/v1/optim_step", {"seq_id": 1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model_id"]
    r = client.post("/api/v1/optim_step", {"model_id": model, "seq_id": 2**64})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "seq_id"]
    r = client.session.post(client.base_url + "/api/v1/optim_step", data=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["detail"]
    r = client.get("/api/v1/training_runs", params={"limit": "ten"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]
    r = client.get("/api/v1/training_runs", params={"access_scope": "everyone"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "access_scope"]


def test_unknown_base_model_is_a_400_listing_the_available_ones(client: Client) -> None:
    r = client.post("/api/v1/create_model", {"session_id": client.session_id(),
                                             "model_seq_id": 0, "base_model": "gpt-9"})
    assert r.status_code == 400
    assert "gpt-9" in r.json()["detail"] and "tinkex/tiny-lm" in r.json()["detail"]


def test_finish_keeps_the_first_reason_and_refuses_later_work(
        client: Client, shared_emulator: Emulator) -> None:
    session = client.session_id()
    model = client.model(session)
    assert client.ok("POST", "/api/v1/session_heartbeat", {"session_id": session}) == {
        "type": "session_heartbeat"}
    client.ok("POST", f"/api/v1/sessions/{session}/finish", {"reason": {"type": "success"}})
    client.ok("POST", f"/api/v1/sessions/{session}/finish", {"reason": {"type": "errored"}})
    assert shared_emulator.services is not None
    stored = shared_emulator.services.store.session(session)
    assert stored is not None and stored.finished_reason == "success"
    r = client.post("/api/v1/session_heartbeat", {"session_id": session})
    assert r.status_code == 410
    r = client.post("/api/v1/forward_backward", fb_body(model, 1))
    assert r.status_code == 400 and "finished" in r.json()["detail"]
    r = client.post("/api/v1/create_model", {"session_id": session, "model_seq_id": 1,
                                             "base_model": "tinkex/micro-lm"})
    assert r.status_code == 400
