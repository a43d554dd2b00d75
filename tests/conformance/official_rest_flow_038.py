"""Official SDK 0.38.0's REST, admin and identity surface against the emulator, values checked.

Not a pytest module: ``test_official_sdk_038.py`` runs it with that SDK's own
interpreter (``TINKER_BASE_URL`` / ``TINKER_API_KEY`` set, ``HF_HUB_OFFLINE=1``,
``HF_HOME`` private to the test). It covers ``whoami`` (JWT auth), the
tokenizer (``get_tokenizer`` + ``apply_chat_template`` through transformers),
``save_weights_external`` and the download of its files, ``copy_weights`` (both
clients), session search with a cursor, project assignment, trace export, the
audit log, billing usage and checkpoint storage against what the flow itself
did, every other ``RestClient`` method, and sampler handles. Each check compares
values, not only the absence of errors. The last line is ``RESULT <json>``.
"""

from __future__ import annotations

import json
import os
import urllib.request
import warnings
from datetime import datetime, timedelta, timezone

import tinker
from safetensors.numpy import load as load_safetensors
from tinker import types

BASE_MODEL = "tinkex/tiny-lm"
DISPLAY_NAME = "REST flow 0.38"
STEPS = 3
BATCH = 2


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # signed URL: no auth header
        return response.read()


def tensor(values: list, dtype: str) -> types.TensorData:
    return types.TensorData(data=values, dtype=dtype, shape=[len(values)])


def chat_datum(tokenizer) -> tuple[types.Datum, int]:
    """A datum from the chat template, as a cookbook SFT loop builds one."""
    messages = [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "hi!"}]
    encoded = tokenizer.apply_chat_template(messages, tokenize=True)
    ids = list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
    n = len(ids) - 1
    return types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                       loss_fn_inputs={"target_tokens": tensor(ids[1:], "int64"),
                                       "weights": tensor([1.0] * n, "float32")}), n


def check_tokenizer(tokenizer) -> None:
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (256, 257)
    assert tokenizer.encode("hé", add_special_tokens=False) == list("hé".encode())
    assert tokenizer.decode(tokenizer.encode("hé")) == "<bos>hé"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                           add_generation_prompt=True, tokenize=True)
    ids = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    assert ids == [256, *b"<|user|>\nhi", 257, *b"<|assistant|>\n"], ids
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                         add_generation_prompt=True, tokenize=False)
    assert text == "<bos><|user|>\nhi<eos><|assistant|>\n", text


def main() -> None:
    warnings.simplefilter("ignore")  # deprecation and experimental warnings are expected
    rest = tinker.RestClient()
    admin = tinker.AdminClient()
    result: dict = {}

    me = rest.whoami().result()
    assert me.user_urn.startswith("tml:user:") and me.org_urn.startswith("tml:organization:")
    assert me.email and me.email.endswith(".invalid"), me
    result["whoami"] = me.model_dump()

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with tinker.ServiceClient(project_id="proj-rest", display_name=DISPLAY_NAME,
                              user_metadata={"flow": "rest"}) as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4).result()
        tokenizer = training.get_tokenizer()
        check_tokenizer(tokenizer)
        datum, n_tokens = chat_datum(tokenizer)
        for _ in range(STEPS):
            training.forward_backward([datum] * BATCH, "cross_entropy").result()
            training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
        trained_tokens = STEPS * BATCH * len(datum.model_input.to_ints())

        state = training.save_state("state").result().path
        sampler_path = training.save_weights_for_sampler("sampler").result().path
        external = training.save_weights_external("export").result().path
        assert external == f"tinker://{training.model_id}/external_weights/export", external

        # -- external weights: every signed URL downloads, the safetensors are real --------
        urls = rest.get_external_weights_urls(external).result()
        assert set(urls.urls) == {"adapter_model.safetensors", "adapter_config.json",
                                  "config.json"}, urls
        assert urls.expires > datetime.now(timezone.utc)
        weights = load_safetensors(fetch(urls.urls["adapter_model.safetensors"]))
        assert any(k.startswith("adapter.") for k in weights) and all(
            v.size > 0 for v in weights.values())
        adapter = json.loads(fetch(urls.urls["adapter_config.json"]))
        assert adapter["r"] == 4 and adapter["base_model_name_or_path"] == BASE_MODEL, adapter
        listed = {c.checkpoint_id: c for c in
                  rest.list_checkpoints(training.model_id).result().checkpoints}
        assert listed["external_weights/export"].checkpoint_type == "external"
        assert listed["external_weights/export"].size_bytes == len(
            fetch(urls.urls["adapter_model.safetensors"]))

        # -- sampling, sampler handles ------------------------------------------------------
        sampler = service.create_sampling_client(model_path=sampler_path).result()
        prompt = types.ModelInput.from_ints(tokenizer.encode("hi"))
        params = types.SamplingParams(max_tokens=8, temperature=0.0)
        first = sampler.sample(prompt, 2, params).result()
        sampled_tokens = sum(len(s.tokens) for s in first.sequences)
        clone = tinker.SamplingClient.from_sampler_handle(sampler.get_sampler_handle())
        again = clone.sample(prompt, 1, params).result()
        sampled_tokens += len(again.sequences[0].tokens)
        assert again.sequences[0].tokens == first.sequences[0].tokens
        assert sampler.get_tokenizer().encode("x") == [256, 120]
        assert rest.get_sampler(sampler._sampling_session_id).result().model_path == sampler_path

        # -- copies: into a project (RestClient) and into the service's project -------------
        copy = rest.copy_weights(state, "proj-archive").result()
        assert copy != state and copy.endswith("/weights/state"), copy
        own_copy = service.copy_weights(sampler_path).result()
        assert own_copy.endswith("/sampler_weights/sampler"), own_copy
        restored = service.create_training_client_from_state(copy).result()
        mine = training.forward([datum], "cross_entropy").result()
        theirs = restored.forward([datum], "cross_entropy").result()
        assert (mine.loss_fn_outputs[0]["logprobs"].tolist()
                == theirs.loss_fn_outputs[0]["logprobs"].tolist())
        copy_run = copy.removeprefix("tinker://").split("/")[0]
        assert [c.checkpoint_id for c in rest.list_checkpoints(copy_run).result().checkpoints] \
            == ["weights/state"]
        session_id = service.holder.get_session_id()

    # -- the rest of RestClient ---------------------------------------------------------------
    run = rest.get_training_run(training.model_id).result()
    assert run.base_model == BASE_MODEL and run.lora_rank == 4
    assert rest.get_training_run_by_tinker_path(state).result().training_run_id == run.training_run_id
    info = rest.get_weights_info_by_tinker_path(state).result()
    assert (info.base_model, info.lora_rank) == (BASE_MODEL, 4)
    runs = rest.list_training_runs(limit=50).result()
    assert training.model_id in [r.training_run_id for r in runs.training_runs]
    mine_all = rest.list_user_checkpoints(limit=100).result().checkpoints
    assert {state, sampler_path, external, copy, own_copy} <= {c.tinker_path for c in mine_all}
    rest.publish_checkpoint_from_tinker_path(state).result()
    assert rest.list_checkpoints(training.model_id).result().checkpoints[0].public in (True, False)
    assert {c.checkpoint_id: c.public for c in rest.list_checkpoints(training.model_id).result()
            .checkpoints}["weights/state"] is True
    rest.unpublish_checkpoint_from_tinker_path(state).result()
    rest.set_checkpoint_ttl_from_tinker_path(sampler_path, 7200).result()
    ttl = {c.checkpoint_id: c.expires_at for c in
           rest.list_checkpoints(training.model_id).result().checkpoints}["sampler_weights/sampler"]
    assert ttl is not None and timedelta(minutes=110) < ttl - datetime.now(timezone.utc) \
        <= timedelta(hours=2)
    session = rest.get_session(session_id).result()
    assert training.model_id in session.training_run_ids and session.display_name == DISPLAY_NAME
    assert session_id in rest.list_sessions(limit=100).result().sessions
    caps = rest.get_server_capabilities().result()
    assert BASE_MODEL in [m.model_name for m in caps.supported_models]

    # -- session search, project assignment, trace export ---------------------------------
    found = rest.search_sessions(types.SessionSearchRequest(display_name="rest FLOW")).result()
    assert [s.session_id for s in found.sessions] == [session_id], found
    summary = found.sessions[0]
    assert summary.project_id == "proj-rest" and summary.user_metadata == {"flow": "rest"}
    assert summary.status is not None and summary.status.type == "client_finished"
    assert summary.status.reason.type == "success"
    # state, sampler and export (the copies are runs of sessions of their own)
    assert summary.checkpoints_count == 3 and summary.checkpoint_storage_bytes > 0, summary
    rest.assign_session_project(session_id, "proj-moved").result()
    moved = rest.search_sessions(types.SessionSearchRequest(project_ids=["proj-moved"])).result()
    assert [s.session_id for s in moved.sessions] == [session_id]
    pages, cursor = [], None
    while True:  # every session of this account, one per page, newest first
        page = rest.search_sessions(types.SessionSearchRequest(limit=1, cursor=cursor)).result()
        pages += [s.session_id for s in page.sessions]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert session_id in pages and len(pages) == len(set(pages)) >= 3, pages
    trace = json.loads(fetch(rest.export_session_trace(session_id).result()))
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"ForwardBackward", "OptimStep", "SaveWeights", "SaveWeightsExternal"} <= names, names

    # -- admin: audit log, billing, storage, all from what happened above -----------------
    log = admin.get_audit_log().result().entries
    events = [(e.event, e.event_details.get("tinker_path")) for e in log]
    for path in (state, sampler_path, external):
        assert ("checkpoint_create", path) in events, (path, events)
    assert ("checkpoint_copy", state) in events and ("checkpoint_publish", state) in events
    assert any(e.event == "checkpoint_read" and e.purpose == "copy" for e in log)
    assert [e.timestamp for e in log] == sorted(e.timestamp for e in log)
    projects = admin.get_audit_log(event_type="projects").result().entries
    assert projects and all(e.event.startswith("project_") for e in projects)
    assert projects[-1].event_details["project_id"] == "proj-moved"
    today = admin.get_audit_log(day=datetime.now(timezone.utc).date()).result().entries
    assert len(today) == len(log)

    usage = admin.get_billing_usage(hour - timedelta(hours=1), hour + timedelta(hours=2)).result()
    by_kind: dict[str, float] = {}
    for event in usage.data:
        info_ = event.event_info
        amount = getattr(info_, "token_count", None) or getattr(info_, "count", None) or \
            getattr(info_, "gigabyte_hours", 0.0)
        by_kind[info_.type] = by_kind.get(info_.type, 0) + amount
        if info_.type in ("training", "sampling_sample"):
            assert abs(event.estimated_cost_usd - event.effective_rate_usd_per_million_tokens
                       * info_.token_count / 1e6) < 1e-12
    # training tokens: the passes above plus the two comparison forwards
    assert by_kind["training"] == trained_tokens + 2 * len(datum.model_input.to_ints()), by_kind
    assert by_kind["sampling_sample"] == sampled_tokens, (by_kind, sampled_tokens)
    assert by_kind["sampling_prefill"] == 2 * len(prompt.to_ints()), by_kind  # one per request
    assert by_kind["checkpoint"] == 3 and by_kind["storage"] > 0, by_kind
    assert session_id in usage.sessions and usage.sessions[session_id].user_metadata == {
        "flow": "rest"}

    storage = admin.get_current_checkpoint_storage_usage().result()
    by_project = {item.project_id: item for item in storage.data}
    assert by_project["proj-moved"].checkpoint_count == 3, by_project
    assert by_project["proj-archive"].checkpoint_count == 1  # the RestClient copy
    assert by_project["proj-rest"].checkpoint_count == 1  # the ServiceClient copy
    assert by_project["proj-moved"].size_bytes == sum(
        c.size_bytes for c in rest.list_checkpoints(training.model_id).result().checkpoints)
    only = admin.get_current_checkpoint_storage_usage(project_id="proj-archive").result()
    assert [i.project_id for i in only.data] == ["proj-archive"]

    # -- deletion -------------------------------------------------------------------------------
    rest.delete_checkpoint_from_tinker_path(copy).result()
    rest.delete_checkpoint(training.model_id, "external_weights/export").result()
    left = {c.tinker_path for c in rest.list_user_checkpoints(limit=100).result().checkpoints}
    assert copy not in left and external not in left and state in left

    result.update(model_id=training.model_id, session_id=session_id, copy=copy,
                  audit_events=len(log), billing=by_kind)
    print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
