"""What SDK 0.38 scripts use besides the core calls: new keywords, handles, types, module paths.

Against a real emulator process where the server is involved; the wire bodies
are checked through a recording proxy in front of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import pickle
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from recording_proxy import RecordingProxy

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-surface-key"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmulatorProcess(tmp_path_factory.mktemp("emu"), args=["--poll-hold", "5"]) as emu:
        yield emu.base_url


@pytest.fixture
def proxy(emulator: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(emulator) as recording:
        yield recording


def _datum(n: int = 5) -> types.Datum:
    ids = [256, *range(97, 97 + n)]
    return types.Datum(model_input=types.ModelInput.from_ints(ids[:-1]),
                       loss_fn_inputs={"target_tokens": ids[1:], "weights": [1.0] * (len(ids) - 1)})


def test_dataclass_protocol_of_the_official_dataclass_types() -> None:
    datum = _datum()
    assert dataclasses.is_dataclass(datum)
    names = {f.name for f in dataclasses.fields(datum)}
    assert {"model_input", "loss_fn_inputs", "model_input_spans", "loss_fn_input_spans"} <= names
    changed = dataclasses.replace(datum, loss_fn_inputs={"target_tokens": [1, 2, 3, 4, 5]})
    assert isinstance(changed, types.Datum) and changed.model_input == datum.model_input
    assert changed.loss_fn_inputs["target_tokens"].dtype == "int64"  # validated like a model
    with pytest.raises(ValueError):
        dataclasses.replace(datum, model_input="not a model input")
    assert set(dataclasses.asdict(datum)) == names
    tensor = types.TensorData.from_numpy(np.arange(6))
    assert dataclasses.replace(tensor, shape=[2, 3]).to_numpy().shape == (2, 3)
    for name in ("SampledSequence", "SampleResponse", "ForwardBackwardOutput", "TensorData"):
        assert dataclasses.is_dataclass(getattr(types, name))


def test_provenance_spans_tile_and_survive_replace() -> None:
    datum = _datum(3)
    prompt = types.PromptProvenanceSpan(sequence_id="s0", offset=0, length=2)
    sampled = types.SampledProvenanceSpan(sequence_id="s0", length=1)
    with pytest.raises(ValueError, match="tile"):
        datum.with_provenance([prompt], [sampled])
    spanned = datum.with_provenance([prompt, sampled], [sampled, prompt])
    assert spanned.model_input_spans == [prompt, sampled]
    assert "model_input_spans" not in spanned.model_dump()  # not part of the JSON body
    kept = dataclasses.replace(spanned, loss_fn_inputs=dict(spanned.loss_fn_inputs))
    assert kept.loss_fn_input_spans == [sampled, prompt]
    with pytest.raises(ValueError):
        types.PromptProvenanceSpan(sequence_id="", length=1)
    from tinkex.proto import codec

    body = codec.encode_forward_backward_request(
        "m", 0, types.ForwardBackwardInput(data=[spanned], loss_fn="cross_entropy"))
    decoded = codec.decode_forward_backward_request(body)
    assert decoded.spans is not None and decoded.spans[0] is not None
    assert [s.kind for s in decoded.spans[0].model_input] == ["prompt", "sampled"]


def test_module_paths_names_and_views() -> None:
    assert importlib.import_module("tinkex.types.tensor_data").TensorData is types.TensorData
    from tinkex.types.optimizer import AdamParams, DimuonParams

    assert AdamParams is types.AdamParams and DimuonParams is types.DimuonParams
    from tinkex.lib.public_interfaces import APIFuture, TrainingClient

    assert APIFuture is tinkex.APIFuture and TrainingClient is tinkex.TrainingClient
    assert tinkex.auth.get_tinker_token() is None or tinkex.auth.tinker_has_credentials()
    parsed = types.ParsedCheckpointTinkerPath.from_tinker_path("tinker://r:train:0/weights/s1")
    assert (parsed.checkpoint_type, parsed.checkpoint_id) == ("training", "weights/s1")
    assert types.EncodedTextChunk(tokens=[1, 2, 3]).length == 3
    seq = types.SampledSequence(stop_reason="length", tokens=[5, 6], logprobs=[-1.0, -2.0],
                                topk_logprobs=[[(5, -1.0), (7, -3.0)], None])
    assert seq.tokens_np.dtype == np.int32 and seq.logprobs_np.tolist() == [-1.0, -2.0]
    topk = seq.topk_logprobs_np
    assert topk is not None and topk.token_ids.tolist() == [[5, 7], [0, 0]]
    response = types.SampleResponse(sequences=[seq], prompt_logprobs=[None, -0.5])
    assert np.isnan(response.prompt_logprobs_np[0]) and response.prompt_logprobs_np[1] == -0.5
    saved = types.SaveWeightsForSamplerResponse(path="tinker://r:train:0/sampler_weights/x")
    assert saved.get_console_url().endswith("/checkpoints/r%3Atrain%3A0/sampler_weights%2Fx")
    assert "playground?mode=checkpoint" in saved.get_playground_url()
    assert tinkex.RequestErrorCategory.User is tinkex.RequestErrorCategory.USER


def test_new_keywords_reach_the_wire(proxy: RecordingProxy) -> None:
    with tinkex.ServiceClient(base_url=proxy.url, api_key=KEY) as service:
        training = service.create_lora_training_client(
            "tinkex/micro-lm", rank=4, optimizer=types.AdamOptimizerConfig())
        training.forward_backward([_datum()], "cross_entropy").result()
        training.optim_step(types.AdamParams(learning_rate=1e-3)).result()
        saved = training.save_state("s1", overwrite=True, user_metadata={"k": "v"}).result()
        assert "/checkpoints/" in saved.get_console_url()
        training.load_state_with_optimizer(saved.path, weights_access_token=None).result()
        sampler = training.save_weights_and_get_sampling_client(record_stability_info=True)
        sampler.sample(types.ModelInput.from_ints([256, 97]), 1,
                       types.SamplingParams(max_tokens=2)).result()
        with pytest.raises(ValueError, match="include_prompt_logprobs"):
            sampler.sample(types.ModelInput.from_ints([256, 97]), 1, types.SamplingParams(),
                           prompt_logprobs_last_n=1)
        with pytest.raises(ValueError, match="not both"):
            training.optim_step(types.AdamParams(), adam_params=types.AdamParams())
        assert service.close("errored", detail="a test").result() is None
    bodies = {e.path: json.loads(e.request_body) for e in proxy.exchanges
              if e.request_body and e.request_headers.get("content-type", "").startswith(
                  "application/json")}
    assert bodies["/api/v1/create_model"]["optimizer_config"] == {"type": "adamw"}
    assert bodies["/api/v1/save_weights"]["overwrite"] is True
    assert bodies["/api/v1/save_weights"]["user_metadata"] == {"k": "v"}
    assert bodies["/api/v1/load_weights"]["optimizer"] is True
    assert bodies["/api/v1/asample"]["record_stability_info"] is True
    finish = next(v for k, v in bodies.items() if k.endswith("/finish"))
    assert finish == {"reason": {"type": "errored"}, "detail": "a test"}


def test_sampler_handles_and_creation_styles(emulator: str) -> None:
    with tinkex.ServiceClient(base_url=emulator, api_key=KEY) as service:
        sampler = service.create_sampling_client(base_model="tinkex/micro-lm")
        assert sampler.result() is sampler and sampler.future().result() is sampler
        handle = sampler.get_sampler_handle()
        assert KEY not in handle
        with tinkex.SamplingClient.from_sampler_handle(handle, api_key=KEY) as copy:
            assert copy.sampling_session_id == sampler.sampling_session_id
            result = copy.sample(types.ModelInput.from_ints([256, 72]), 1,
                                 types.SamplingParams(max_tokens=2)).result()
            assert len(result.sequences) == 1
        assert pickle.loads(pickle.dumps(sampler)).sampling_session_id == \
            sampler.sampling_session_id
        with pytest.raises(ValueError, match="handle"):
            tinkex.SamplingClient.from_sampler_handle("nope")
        heard: list[str] = []

        class Listening(tinkex.SamplingClient):
            def on_queue_state_change(self, queue_state: str, reason: str | None) -> None:
                heard.append(queue_state)

        assert Listening.on_queue_state_change is not tinkex.SamplingClient.on_queue_state_change
        assert service.get_console_url().endswith(f"/sessions/{service.session_id}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tinkex.ServiceClient(base_url=emulator, api_key=KEY, http_client=None).close()
        assert any("http_client" in str(w.message) for w in caught)


def test_admin_and_new_rest_calls(emulator: str) -> None:
    with tinkex.ServiceClient(base_url=emulator, api_key=KEY) as service:
        training = service.create_lora_training_client("tinkex/micro-lm", rank=4)
        path = training.save_weights_for_sampler("w1", user_metadata={"a": "b"}).result().path
        rest = service.create_rest_client()
        with pytest.raises(ValueError, match="destination_project_id"):
            rest.copy_weights(path)
        copied = rest.copy_weights(path, "proj-copies", ttl_seconds=7200).result()
        assert copied.startswith("tinker://") and copied != path
        found = rest.search_sessions(types.SessionSearchRequest(session_id=service.session_id))
        assert [s.session_id for s in found.result().sessions] == [service.session_id]
        with tinkex.AdminClient(base_url=emulator, api_key=KEY) as admin:
            log = admin.get_audit_log(day=dt.datetime.now(dt.timezone.utc).date()).result()
            assert log.model_dump() is not None
            now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
            usage = admin.get_billing_usage(now - dt.timedelta(hours=2), now).result()
            assert usage is not None
            assert admin.get_current_checkpoint_storage_usage().result() is not None
        assert rest.get_audit_log().result() is not None
