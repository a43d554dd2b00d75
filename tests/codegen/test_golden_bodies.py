"""The generated models accept the exact bodies of the protocol reference (4.3, 4.6, 15.2).

Including the older bodies (SDK 0.3 - 0.16) that omit ``type`` discriminators and
defaults, which a server must accept.
"""

from __future__ import annotations

import json

import pytest

from tinkex import types as T

FWDBWD_018 = '{"forward_backward_input": {"data": [{"loss_fn_inputs": {"target_tokens": {"data": [2, 3, 4], "dtype": "int64", "shape": [3]}, "weights": {"data": [0.0, 1.0, 1.0], "dtype": "float32", "shape": [3]}}, "model_input": {"chunks": [{"tokens": [1, 2, 3], "type": "encoded_text"}]}}], "loss_fn": "cross_entropy"}, "model_id": "sess:train:0", "seq_id": 1}'
FWDBWD_003 = '{"forward_backward_input": {"data": [{"loss_fn_inputs": {"target_tokens": {"data": [2, 3, 4], "dtype": "int64", "shape": [3]}, "weights": {"data": [0.0, 1.0, 1.0], "dtype": "float32", "shape": [3]}}, "model_input": {"chunks": [{"tokens": [1, 2, 3]}]}}], "loss_fn": "cross_entropy"}, "model_id": "sess:train:0", "seq_id": 1}'
SAMPLE_038 = '{"num_samples": 2, "prompt": {"chunks": [{"tokens": [1, 2, 3], "type": "encoded_text"}]}, "sampling_params": {"max_tokens": 5, "stop": ["\\n"], "temperature": 1.0, "top_k": -1, "top_p": 1.0}, "sampling_session_id": "s:sample:0", "seq_id": 0, "prompt_logprobs": true, "topk_prompt_logprobs": 0, "topk_sample_logprobs": 0, "prompt_alt_tokens_k": 0, "record_stability_info": false, "type": "sample"}'
SAMPLE_003 = '{"num_samples": 2, "prompt": {"chunks": [{"tokens": [1, 2, 3]}]}, "sampling_params": {"max_tokens": 5}, "sampling_session_id": "sess:sample:0", "seq_id": 0, "prompt_logprobs": false}'
OPTIM_003 = '{"adam_params":{"learning_rate":0.0001},"model_id":"m","seq_id":2}'


@pytest.mark.parametrize("body", [FWDBWD_018, FWDBWD_003], ids=["sdk-0.18", "sdk-0.3"])
def test_forward_backward_request(body):
    req = T.ForwardBackwardRequest.model_validate_json(body)
    datum = req.forward_backward_input.data[0]
    assert datum.model_input.chunks[0].type == "encoded_text"
    assert datum.model_input.to_ints() == [1, 2, 3]
    assert datum.loss_fn_inputs["target_tokens"].to_numpy().tolist() == [2, 3, 4]
    assert req.forward_backward_input.loss_fn == T.LossFnType.cross_entropy
    # what tinkex sends is the 0.18+ body, key for key
    sent = req.model_dump(mode="json", exclude_none=True)
    assert sent == json.loads(FWDBWD_018)


@pytest.mark.parametrize("body", [SAMPLE_038, SAMPLE_003], ids=["sdk-0.38", "sdk-0.3"])
def test_sample_request(body):
    req = T.SampleRequest.model_validate_json(body)
    assert req.num_samples == 2 and req.prompt.to_ints() == [1, 2, 3]
    assert req.sampling_params.max_tokens == 5
    assert req.sampling_params.temperature == 1.0 and req.sampling_params.top_k == -1


def test_old_optim_step_gets_adam_defaults():
    req = T.OptimStepRequest.model_validate_json(OPTIM_003)
    assert req.adam_params.learning_rate == 0.0001
    assert (req.adam_params.beta1, req.adam_params.beta2, req.adam_params.eps) == (0.9, 0.95, 1e-12)
    assert req.adam_params.weight_decay == 0.0 and req.adam_params.grad_clip_norm == 0.0


MINIMAL_RESPONSES = [
    ("ClientConfigResponse", {}),
    ("CreateSessionResponse", {"session_id": "S"}),
    ("SessionHeartbeatResponse", {}),
    ("UntypedAPIFuture", {"request_id": "R1", "model_id": "S:train:0"}),
    ("CreateModelResponse", {"model_id": "S:train:0"}),
    ("GetInfoResponse", {"model_id": "S:train:0", "model_data": {"model_name": "Qwen/Qwen3-8B",
                         "tokenizer_id": "Qwen/Qwen3-8B"}, "is_lora": True, "lora_rank": 32}),
    ("ForwardBackwardOutput", {"loss_fn_output_type": "ArrayRecord", "loss_fn_outputs": [
        {"logprobs": {"data": [-0.5, -1.0], "dtype": "float32", "shape": [2]}}],
        "metrics": {"loss:sum": 1.23}}),
    ("OptimStepResponse", {"metrics": {}}),
    ("OptimStepResponse", {}),
    ("SaveWeightsResponse", {"path": "tinker://S:train:0/weights/NAME"}),
    ("SaveWeightsForSamplerResponseInternal", {"path": "tinker://S:train:0/sampler_weights/NAME"}),
    ("SaveWeightsForSamplerResponseInternal", {"sampling_session_id": "S:sample:1"}),
    ("LoadWeightsResponse", {"path": "tinker://x", "model_id": "S:train:1"}),
    ("CreateSamplingSessionResponse", {"sampling_session_id": "S:sample:0"}),
    ("UntypedAPIFuture", {"request_id": "S:sample:0:0", "sample_sequence_ids": ["a", "b"]}),
    ("SampleResponse", {"sequences": [{"stop_reason": "length", "tokens": [5, 6],
                                       "logprobs": [-0.1, -0.2]}], "prompt_logprobs": None}),
    ("TryAgainResponse", {"type": "try_again", "request_id": "R1", "queue_state": "active"}),
    ("RequestFailedResponse", {"error": "message", "category": "user"}),
    ("TelemetryResponse", {"status": "accepted"}),
    ("GetServerCapabilitiesResponse", {"supported_models": [{"model_name": "Qwen/Qwen3-8B"}]}),
    ("HealthResponse", {"status": "ok"}),
    ("WeightsInfoResponse", {"base_model": "Qwen/Qwen3-8B", "is_lora": True, "lora_rank": 32}),
    ("GetSamplerResponse", {"sampler_id": "S:sample:0", "base_model": "Qwen/Qwen3-8B",
                            "model_path": None}),
]


@pytest.mark.parametrize("name,body", MINIMAL_RESPONSES, ids=[n for n, _ in MINIMAL_RESPONSES])
def test_minimal_valid_responses(name, body):
    getattr(T, name).model_validate(body)


def test_chunk_kind_is_inferred_only_when_type_is_missing():
    mi = T.ModelInput.model_validate({"chunks": [{"tokens": [1]},
                                                 {"data": "AAAA", "format": "png", "expected_tokens": 4},
                                                 {"location": "s3://x", "format": "jpeg"}]})
    assert [c.type for c in mi.chunks] == ["encoded_text", "image", "image_asset_pointer"]
    with pytest.raises(ValueError):
        T.ModelInput.model_validate({"chunks": [{"tokens": [1], "type": "bogus"}]})
