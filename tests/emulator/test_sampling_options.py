"""The SDK 0.29 - 0.38 sampling options: topk_sample_logprobs, prompt_logprobs_last_n,
prompt_alt_tokens_k and target_prompt_logprobs.

Values are checked against a direct computation with the model (a full forward pass,
``TrainableModel.forward``), the JSON and protobuf answers of the emulator against each
other, and bad values against the 400 that names the field.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from emulator_client import TEXT, Client

from tinkex import types as T
from tinkex.emulator.compute.model import LoraConfig, TrainableModel, get_base_weights, get_config
from tinkex.emulator.compute.model.transformer import forward, log_softmax
from tinkex.proto import codec

PROTO = "application/x-protobuf"
PRESET = "tinkex/micro-lm"
PROMPT = TEXT[:10]  # BOS + "the cat s"
P = len(PROMPT)


@pytest.fixture(scope="module")
def model() -> TrainableModel:
    return TrainableModel(PRESET, LoraConfig(rank=4, seed=7))


def full_logprobs(m: TrainableModel | None, tokens: list[int]) -> np.ndarray:
    """log-softmax of one full forward pass: row ``i`` is the distribution of ``tokens[i+1]``."""
    cfg = get_config(PRESET)
    weights = get_base_weights(PRESET) if m is None else m.merged_weights()
    logits, _ = forward(cfg, weights, np.asarray([tokens], dtype=np.int64))
    return log_softmax(logits[0].astype(np.float64))


def cross_entropy_datum() -> tuple[list[int], dict[str, np.ndarray]]:
    """PROMPT as a forward datum: position i predicts PROMPT[i + 1]."""
    return PROMPT[:-1], {"target_tokens": np.asarray(PROMPT[1:]),
                         "weights": np.ones(P - 1, np.float32)}


def topk_of(row: np.ndarray, k: int) -> list[int]:
    return [int(t) for t in np.argsort(-row, kind="stable")[:k]]


# ============================================================================ model level


def test_topk_sample_logprobs_are_those_of_the_full_sequence(model: TrainableModel) -> None:
    res = model.sample(PROMPT, 6, seed=3, num_samples=2, stop=[], topk_sample_logprobs=4)
    for seq in res.sequences:
        assert seq.topk_logprobs is not None and len(seq.topk_logprobs) == len(seq.tokens) == 6
        lp = full_logprobs(model, PROMPT + seq.tokens)
        for t, (tok, row) in enumerate(zip(seq.tokens, seq.topk_logprobs, strict=True)):
            dist = lp[P - 1 + t]
            assert [i for i, _ in row] == topk_of(dist, 4)
            assert np.allclose([v for _, v in row], dist[[i for i, _ in row]], atol=1e-4)
            assert row[0][1] >= seq.logprobs[t] - 1e-9  # the best one is at least the drawn one
            assert seq.logprobs[t] == pytest.approx(dist[tok], abs=1e-4)
    # not asked -> absent; asking does not change what is sampled
    plain = model.sample(PROMPT, 6, seed=3, num_samples=2, stop=[])
    assert [s.topk_logprobs for s in plain.sequences] == [None, None]
    assert [s.tokens for s in plain.sequences] == [s.tokens for s in res.sequences]
    # k past the vocabulary is clamped to it
    wide = model.sample(PROMPT, 1, seed=3, topk_sample_logprobs=10_000)
    assert len(wide.sequences[0].topk_logprobs[0]) == model.config.vocab_size


def test_prompt_logprobs_last_n_scores_only_the_suffix(model: TrainableModel) -> None:
    full = model.sample(PROMPT, 0, prompt_logprobs=True, topk_prompt_logprobs=3)
    for n in (1, 4, P - 1):
        res = model.sample(PROMPT, 0, prompt_logprobs=True, topk_prompt_logprobs=3,
                           prompt_logprobs_last_n=n)
        assert res.prompt_logprobs is not None and res.topk_prompt_logprobs is not None
        assert len(res.prompt_logprobs) == len(res.topk_prompt_logprobs) == P
        assert res.prompt_logprobs[: P - n] == [None] * (P - n)
        assert res.prompt_logprobs[P - n :] == full.prompt_logprobs[P - n :]
        assert res.topk_prompt_logprobs[: P - n] == [None] * (P - n)
        assert res.topk_prompt_logprobs[P - n :] == full.topk_prompt_logprobs[P - n :]
    assert model.sample(PROMPT, 0, prompt_logprobs=True,
                        prompt_logprobs_last_n=P - 1).prompt_logprobs == full.prompt_logprobs
    assert model.compute_logprobs(PROMPT, 2) == [None] * (P - 2) + full.prompt_logprobs[-2:]
    # the scored values are the model's (TrainableModel.forward, cross-entropy targets)
    outputs, _ = model.forward([cross_entropy_datum()])
    assert np.allclose(outputs[0]["logprobs"][-3:], full.prompt_logprobs[-3:], atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt_logprobs_last_n": 2}, "requires prompt_logprobs"),
    ({"prompt_logprobs": True, "prompt_logprobs_last_n": P}, "between 1 and"),
    ({"prompt_logprobs": True, "prompt_logprobs_last_n": 0}, "between 1 and"),
    ({"prompt_alt_tokens_k": -1}, "prompt_alt_tokens_k"),
    ({"topk_sample_logprobs": -2}, "topk_sample_logprobs"),
    ({"target_prompt_logprobs": np.zeros((P, 1), np.int64)}, r"\[len\(prompt\) - 1, K\]"),
    ({"target_prompt_logprobs": np.full((P - 1, 1), 10_000)}, "ids must be -1"),
])
def test_model_refuses_bad_prompt_options(model: TrainableModel, kwargs: dict[str, Any],
                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.sample(PROMPT, 1, **kwargs)


def test_prompt_alt_tokens_are_draws_with_the_models_logprobs(model: TrainableModel) -> None:
    lp = full_logprobs(model, PROMPT)
    res = model.sample(PROMPT, 3, seed=11, prompt_alt_tokens_k=5)
    assert res.prompt_alt_tokens is not None
    tokens, logprobs = res.prompt_alt_tokens
    assert tokens.shape == logprobs.shape == (P - 1, 5)
    assert tokens.dtype == np.int64 and logprobs.dtype == np.float32
    assert np.allclose(logprobs, np.take_along_axis(lp[:-1], tokens, axis=1), atol=1e-4)
    # seeded: reproducible; own random stream: the continuation is the one without draws
    again = model.sample(PROMPT, 3, seed=11, prompt_alt_tokens_k=5)
    assert again.prompt_alt_tokens is not None
    assert np.array_equal(again.prompt_alt_tokens[0], tokens)
    assert model.sample(PROMPT, 3, seed=11).sequences[0].tokens == res.sequences[0].tokens
    # temperature 0: the arg-max, k times
    greedy = model.sample(PROMPT, 1, temperature=0, prompt_alt_tokens_k=3).prompt_alt_tokens
    assert greedy is not None
    assert np.array_equal(greedy[0], np.repeat(lp[:-1].argmax(axis=1)[:, None], 3, axis=1))
    # many draws at temperature 1 follow the model's distribution
    many = model.sample(PROMPT, 0, seed=0, prompt_alt_tokens_k=4000).prompt_alt_tokens
    assert many is not None
    row = P - 2
    freq = np.bincount(many[0][row], minlength=lp.shape[1]) / 4000
    assert np.abs(freq - np.exp(lp[row])).max() < 0.03


def test_target_prompt_logprobs_score_the_named_ids(model: TrainableModel) -> None:
    lp = full_logprobs(model, PROMPT)
    ids = np.full((P - 1, 3), -1, dtype=np.int64)
    ids[:, 0] = PROMPT[1:]  # the actual next tokens
    ids[2, 1], ids[5, 2], ids[P - 2, 1] = 7, 200, 0
    res = model.sample(PROMPT, 1, target_prompt_logprobs=ids, prompt_logprobs=True)
    out = res.target_prompt_logprobs
    assert out is not None and out.shape == ids.shape and out.dtype == np.float32
    rows, cols = np.nonzero(ids >= 0)
    assert np.allclose(out[rows, cols], lp[rows, ids[rows, cols]], atol=1e-5)
    assert (out[ids < 0] == 0.0).all()
    outputs, _ = model.forward([cross_entropy_datum()])
    assert np.allclose(out[:, 0], outputs[0]["logprobs"], atol=1e-5)
    assert np.allclose(out[:, 0], res.prompt_logprobs[1:], atol=1e-6)


# ============================================================================ over HTTP


def sampler_id(client: Client) -> str:
    session = client.session_id()
    return str(client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 0,
        "base_model": PRESET})["sampling_session_id"])


def sample_body(sampler: str, seq_id: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "num_samples": 2, "prompt": {"chunks": [{"type": "encoded_text", "tokens": PROMPT}]},
        "sampling_params": {"max_tokens": 4, "seed": 5, "temperature": 1.0, "stop": []},
        "sampling_session_id": sampler, "seq_id": seq_id, "prompt_logprobs": True,
        "topk_prompt_logprobs": 0, "topk_sample_logprobs": 0, "prompt_alt_tokens_k": 0,
        "record_stability_info": False, "type": "sample"}
    body.update(extra)
    return body


def result(client: Client, request_id: str, accept: str) -> T.SampleResponse:
    for _ in range(200):
        response = client.session.post(client.base_url + "/api/v1/retrieve_future",
                                       json={"request_id": request_id},
                                       headers={"Accept": accept}, timeout=30)
        if response.status_code != 408:
            assert response.status_code == 200, response.text
            if accept == PROTO:
                assert response.headers["content-type"] == PROTO, response.text
                return codec.decode_sample_response(response.content)
            return T.SampleResponse.model_validate(response.json())
    raise AssertionError("sample did not finish")


SPARSE_IDS = np.full((P - 1, 40), -1, dtype=np.int64)
SPARSE_IDS[3, 17], SPARSE_IDS[3, 30], SPARSE_IDS[7, 2] = 101, 0, 257


def sparse(ids: np.ndarray) -> dict[str, Any]:
    rows, cols = np.nonzero(ids >= 0)
    crow = np.searchsorted(rows, np.arange(ids.shape[0] + 1)).tolist()
    return {"data": ids[rows, cols].tolist(), "dtype": "int64", "shape": list(ids.shape),
            "sparse_crow_indices": crow, "sparse_col_indices": cols.tolist()}


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_all_options_over_json_and_protobuf(client: Client, layout: str) -> None:
    sampler = sampler_id(client)
    dense_ids = np.full((P - 1, 2), -1, dtype=np.int64)
    dense_ids[:, 0] = PROMPT[1:]
    dense_ids[4, 1] = 42
    target = (sparse(SPARSE_IDS) if layout == "sparse" else
              {"data": dense_ids.reshape(-1).tolist(), "dtype": "int64", "shape": [P - 1, 2]})
    options = {"topk_sample_logprobs": 3, "topk_prompt_logprobs": 2,
               "prompt_logprobs_last_n": 4, "prompt_alt_tokens_k": 3,
               "target_prompt_logprobs": target}
    answers = []
    for seq_id, accept in enumerate(["application/json", PROTO]):
        request_id = client.submit("/api/v1/asample", sample_body(sampler, seq_id, **options))
        answers.append(result(client, request_id, accept))
    from_json, from_proto = answers

    # against the model
    lp = full_logprobs(None, PROMPT)
    for seq in from_json.sequences:
        assert seq.topk_logprobs is not None and len(seq.topk_logprobs) == len(seq.tokens)
        seq_lp = full_logprobs(None, PROMPT + seq.tokens)
        for t, row in enumerate(seq.topk_logprobs):
            assert row is not None
            assert [i for i, _ in row] == topk_of(seq_lp[P - 1 + t], 3)
    assert from_json.prompt_logprobs is not None and len(from_json.prompt_logprobs) == P
    assert from_json.prompt_logprobs[: P - 4] == [None] * (P - 4)
    assert np.allclose(from_json.prompt_logprobs[P - 4 :],
                       lp[np.arange(P - 5, P - 1), PROMPT[P - 4 :]], atol=1e-5)
    assert from_json.topk_prompt_logprobs is not None
    assert from_json.topk_prompt_logprobs[: P - 4] == [None] * (P - 4)
    alt = from_json.prompt_alt_tokens
    assert alt is not None and alt.tokens.shape == alt.logprobs.shape == [P - 1, 3]
    assert alt.tokens.dtype.value == "int64" and alt.logprobs.dtype.value == "float32"
    alt_tokens = alt.tokens.to_numpy()
    assert np.allclose(alt.logprobs.to_numpy(), np.take_along_axis(lp[:-1], alt_tokens, 1),
                       atol=1e-4)
    tpl = from_json.target_prompt_logprobs
    assert tpl is not None and tpl.dtype.value == "float32"
    if layout == "sparse":
        assert tpl.shape == list(SPARSE_IDS.shape)
        assert tpl.sparse_crow_indices == target["sparse_crow_indices"]
        assert tpl.sparse_col_indices == target["sparse_col_indices"]
        rows = np.repeat(np.arange(P - 1), np.diff(target["sparse_crow_indices"]))
        assert np.allclose(tpl.data, lp[rows, target["data"]], atol=1e-5)
    else:
        out = tpl.to_numpy()
        assert out.shape == dense_ids.shape
        assert np.allclose(out[:, 0], lp[np.arange(P - 1), PROMPT[1:]], atol=1e-5)
        assert out[4, 1] == pytest.approx(lp[4, 42], abs=1e-5)
        assert (out[dense_ids < 0] == 0.0).all()

    # JSON and protobuf carry the same answer (float32 on the protobuf side)
    for a, b in zip(from_json.sequences, from_proto.sequences, strict=True):
        assert a.tokens == b.tokens
        assert [[i for i, _ in row] for row in a.topk_logprobs] == [
            [i for i, _ in row] for row in b.topk_logprobs]
        assert np.array_equal(np.float32([[v for _, v in r] for r in a.topk_logprobs]),
                              np.float32([[v for _, v in r] for r in b.topk_logprobs]))
    assert [v is None for v in from_json.prompt_logprobs] == [
        v is None for v in from_proto.prompt_logprobs]
    assert from_json.topk_prompt_logprobs[: P - 4] == from_proto.topk_prompt_logprobs[: P - 4]
    assert from_proto.prompt_alt_tokens is not None
    assert from_proto.prompt_alt_tokens.tokens == alt.tokens
    assert from_proto.prompt_alt_tokens.logprobs == alt.logprobs
    assert from_proto.target_prompt_logprobs == tpl


def test_options_not_asked_are_absent(client: Client) -> None:
    sampler = sampler_id(client)
    out = result(client, client.submit("/api/v1/asample", sample_body(sampler, 0)), PROTO)
    assert out.prompt_alt_tokens is None and out.target_prompt_logprobs is None
    assert all(s.topk_logprobs is None for s in out.sequences)
    assert out.prompt_logprobs is not None and out.prompt_logprobs[1] is not None


def bad_target(**overrides: Any) -> dict[str, Any]:
    tensor: dict[str, Any] = {"data": [5] * (P - 1), "dtype": "int64", "shape": [P - 1, 1]}
    tensor.update(overrides)
    return {"target_prompt_logprobs": tensor}


@pytest.mark.parametrize("extra, field, words", [
    ({"prompt_logprobs": False, "prompt_logprobs_last_n": 2}, "prompt_logprobs_last_n",
     "requires prompt_logprobs"),
    ({"prompt_logprobs_last_n": P}, "prompt_logprobs_last_n", f"len(prompt) - 1 = {P - 1}"),
    ({"prompt_alt_tokens_k": 10**6}, "prompt_alt_tokens_k", "more than"),
    (bad_target(dtype="float32", data=[5.0] * (P - 1)), "target_prompt_logprobs", "int64"),
    (bad_target(shape=[P - 1]), "target_prompt_logprobs", "2-D"),
    (bad_target(shape=[P, 1], data=[5] * P), "target_prompt_logprobs", f"{P - 1} rows"),
    (bad_target(data=[-1] * (P - 1)), "target_prompt_logprobs", "names no token id"),
    (bad_target(data=[5] * (P - 2) + [999]), "target_prompt_logprobs", "token ids must be"),
    (bad_target(data=[5] * (P - 2) + [-3]), "target_prompt_logprobs", "token ids must be"),
    (bad_target(data=[5, 6]), "target_prompt_logprobs", "target_prompt_logprobs"),
    (bad_target(data=[5], sparse_crow_indices=[0, 1], sparse_col_indices=[0]),
     "target_prompt_logprobs", "CSR"),
    (bad_target(data=[5], sparse_crow_indices=[0] + [1] * (P - 1), sparse_col_indices=[3]),
     "target_prompt_logprobs", "CSR"),
])
def test_bad_option_values_are_400_naming_the_field(client: Client, extra: dict[str, Any],
                                                    field: str, words: str) -> None:
    sampler = sampler_id(client)
    response = client.post("/api/v1/asample", sample_body(sampler, 0, **extra))
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert field in detail and words in detail, detail


@pytest.mark.parametrize("field", ["prompt_alt_tokens_k", "topk_sample_logprobs",
                                   "prompt_logprobs_last_n"])
def test_out_of_schema_values_are_refused_by_the_schema(client: Client, field: str) -> None:
    # The request schema itself says >= 0 / >= 1, so these fail validation (422, loc names
    # the field) before the handler's own 400 checks.
    response = client.post("/api/v1/asample", sample_body(sampler_id(client), 0, **{field: -1}))
    assert response.status_code == 422, response.text
    assert any(field in err["loc"] for err in response.json()["detail"])
