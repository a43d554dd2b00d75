"""tinkex over protobuf against a real emulator (``--proto-fwdbwd --proto-compress-fwdbwd``).

Clients reach the emulator through a recording proxy, so the tests check what
really went over the wire (content types, zstd, the decoded protobuf bodies)
as well as what the client made of it. JSON and protobuf runs start from the
same state (same LoRA seed) and must give identical numbers.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from recording_proxy import Exchange, RecordingProxy

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess
from tinkex.proto import codec

KEY = "tml-protobuf-client"
MODEL = "tinkex/micro-lm"
FORWARD_BACKWARD = "/api/v1/forward_backward"
FORWARD = "/api/v1/forward"
RETRIEVE = "/api/v1/retrieve_future"
ASAMPLE = "/api/v1/asample"
PROTOBUF = "application/x-protobuf"
SENTENCES = ["The quick brown fox.", "Jumps over", "the lazy dog, twice over again.",
             "Protobuf or JSON?"]


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = ["--proto-fwdbwd", "--proto-compress-fwdbwd", "--poll-hold", "5"]
    with EmulatorProcess(tmp_path_factory.mktemp("emu"), args=args) as emulator:
        yield emulator.base_url


@pytest.fixture
def proxy(emulator_url: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(emulator_url) as recording:
        yield recording


def datums() -> list[types.Datum]:
    """Sentences of different lengths (ragged outputs), byte tokens as on the emulator."""
    out = []
    for text in SENTENCES:
        ids = [256, *text.encode(), 257]
        out.append(types.Datum(model_input=ids[:-1], loss_fn_inputs={
            "target_tokens": np.array(ids[1:]), "weights": np.ones(len(ids) - 1)}))
    return out


def numpy_loss(data: list[types.Datum], logprobs: list[np.ndarray]) -> Any:
    """A custom loss (numpy backend): mean negative logprob, with its gradient."""
    total = sum(lp.size for lp in logprobs)
    loss = -sum(float(lp.sum()) for lp in logprobs) / total
    return loss, {"tokens:sum": float(total)}, [np.full(lp.shape, -1.0 / total) for lp in logprobs]


def train_and_sample(url: str, wire_format: str) -> dict[str, Any]:
    """One scripted session: forward, two training steps, a custom loss, a seeded sample."""
    with tinkex.ServiceClient(base_url=url, api_key=KEY, wire_format=wire_format) as service:
        training = service.create_lora_training_client(base_model=MODEL, rank=4, seed=11)
        data = datums()
        forward = training.forward(data, "cross_entropy").result()
        first = training.forward_backward(data, "cross_entropy").result()
        training.optim_step(types.AdamParams(learning_rate=2e-2)).result()
        second = training.forward_backward(data, "cross_entropy").result()
        custom = training.forward_backward_custom(data, numpy_loss, backend="numpy").result()
        training.optim_step(types.AdamParams(learning_rate=2e-2)).result()
        sampler = training.save_weights_and_get_sampling_client()
        prompt = types.ModelInput.from_ints([256, *b"The"])
        sample = sampler.sample(prompt, 3, types.SamplingParams(max_tokens=12, seed=5)).result()
        return {"model_id": training.model_id, "forward": forward, "first": first,
                "second": second, "custom": custom, "sample": sample}


def protobuf_body(exchange: Exchange) -> codec.ForwardBackwardCall:
    return codec.decode_forward_backward_request(
        exchange.request_body, exchange.request_headers.get("content-encoding"))


def result_polls(proxy: RecordingProxy) -> list[Exchange]:
    """Polls that got a result (not a try-again), i.e. answered 200."""
    return [e for e in proxy.to(RETRIEVE) if e.status == 200]


def assert_same_passes(a: types.ForwardBackwardOutput, b: types.ForwardBackwardOutput) -> None:
    assert a.metrics == b.metrics
    assert len(a.loss_fn_outputs) == len(b.loss_fn_outputs) == len(SENTENCES)
    for mine, theirs in zip(a.loss_fn_outputs, b.loss_fn_outputs, strict=True):
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert np.array_equal(mine[name].to_numpy(), theirs[name].to_numpy())
    assert a == b  # value equality, whichever form (list or array) holds the tensors


# ---- identical results -----------------------------------------------------------------


def test_json_and_protobuf_give_identical_results(emulator_url: str):
    runs = {fmt: train_and_sample(emulator_url, fmt) for fmt in ("json", "protobuf", "auto")}
    json_run = runs["json"]
    for fmt in ("protobuf", "auto"):
        run = runs[fmt]
        for step in ("forward", "first", "second", "custom"):
            assert_same_passes(json_run[step], run[step])
        assert run["custom"].metrics["loss:sum"] == json_run["custom"].metrics["loss:sum"]
        mine, theirs = json_run["sample"].sequences, run["sample"].sequences
        assert [s.tokens for s in mine] == [s.tokens for s in theirs]
        for a, b in zip(mine, theirs, strict=True):  # float32 on the protobuf wire
            assert np.array_equal(np.float32(a.logprobs), np.float32(b.logprobs))
        assert [s.stop_reason for s in mine] == [s.stop_reason for s in theirs]
    # training really happened, identically: the loss went down by the same amount
    assert json_run["second"].metrics["loss:sum"] < json_run["first"].metrics["loss:sum"]


# ---- what goes over the wire -----------------------------------------------------------


def test_protobuf_requests_are_zstd_protobuf_and_keep_seq_ids(proxy: RecordingProxy):
    run = train_and_sample(proxy.url, "protobuf")
    assert proxy.to(FORWARD) == []  # forward went as forward_backward + forward_only
    sent = proxy.to(FORWARD_BACKWARD)
    assert sent and all(e.request_headers["content-type"] == PROTOBUF
                        and e.request_headers["content-encoding"] == "zstd" for e in sent)
    calls = sorted((protobuf_body(e) for e in sent), key=lambda c: c.seq_id or 0)
    # forward 1, fwd-bwd 2, optim 3, fwd-bwd 4, custom loss: forward 5 + backward 6, optim 7
    assert [(c.seq_id, c.forward_only) for c in calls] == [
        (1, True), (2, False), (4, False), (5, True), (6, False)]
    assert {c.model_id for c in calls} == {run["model_id"]}
    assert [len(c.input.data) for c in calls] == [len(SENTENCES)] * 5
    first = calls[0].input.data[0]
    assert first.model_input.to_ints() == [256, *SENTENCES[0].encode()]
    # every result was asked for as protobuf first, and came as protobuf
    polls = result_polls(proxy)
    kinds = {e.request_headers.get("x-tinker-request-type") for e in polls}
    assert {"ForwardBackward", "Sample"} <= kinds
    for poll in polls:
        if poll.request_headers.get("x-tinker-request-type") in ("ForwardBackward", "Sample"):
            assert poll.request_headers["accept"] == f"{PROTOBUF}, application/json"
            assert poll.response_headers["content-type"].startswith(PROTOBUF)


def test_auto_follows_the_server_config(proxy: RecordingProxy):
    """The emulator asks for protobuf + zstd bodies but not for forward via forward_backward."""
    train_and_sample(proxy.url, "auto")
    assert all(e.request_headers["content-type"] == PROTOBUF
               and e.request_headers["content-encoding"] == "zstd"
               for e in proxy.to(FORWARD_BACKWARD))
    assert not any(protobuf_body(e).forward_only for e in proxy.to(FORWARD_BACKWARD))
    forwards = proxy.to(FORWARD)
    assert len(forwards) == 2  # forward() and the custom loss's forward pass, as JSON
    assert all(e.request_headers["content-type"] == "application/json" for e in forwards)
    assert json.loads(forwards[0].request_body)["seq_id"] == 1


def test_json_wire_format_never_uses_protobuf(proxy: RecordingProxy):
    train_and_sample(proxy.url, "json")
    for exchange in proxy.exchanges:
        assert PROTOBUF not in exchange.request_headers.get("content-type", "")
        assert PROTOBUF not in exchange.request_headers.get("accept", "")
        assert PROTOBUF not in exchange.response_headers.get("content-type", "")
    assert len(proxy.to(FORWARD_BACKWARD)) == 3 and len(proxy.to(FORWARD)) == 2


def test_sampled_sequences_carry_the_submitted_sequence_ids(proxy: RecordingProxy):
    run = train_and_sample(proxy.url, "protobuf")
    (submit,) = proxy.to(ASAMPLE)
    ids = json.loads(submit.response_body)["sample_sequence_ids"]
    assert len(ids) == 3
    assert [s.sequence_id for s in run["sample"].sequences] == ids


# ---- decoded tensors -------------------------------------------------------------------


def test_decoded_tensors_are_numpy_backed_without_a_list(emulator_url: str):
    run = train_and_sample(emulator_url, "protobuf")
    reference = train_and_sample(emulator_url, "json")["second"]
    output: types.ForwardBackwardOutput = run["second"]
    tensors = [t for out in output.loss_fn_outputs for t in out.values()]
    assert tensors
    for tensor in tensors:
        array = tensor._array
        assert isinstance(array, np.ndarray) and "data" not in tensor.__dict__
        view = tensor.to_numpy()
        assert view is array and view.flags.writeable and view.dtype == np.float32
    # serialising gives the usual JSON and keeps no list
    assert output.model_dump_json() == reference.model_dump_json()
    assert output.model_dump() == reference.model_dump()
    assert all(t._array is not None and "data" not in t.__dict__ for t in tensors)
    # pickling keeps the array; equality holds across forms and after a round trip
    copy = pickle.loads(pickle.dumps(output))
    assert copy == output == reference
    assert all(isinstance(t._array, np.ndarray) for o in copy.loss_fn_outputs for t in o.values())
    # reading ``data`` builds the list once; from then on the list is the value
    first = tensors[0]
    values = first.data
    assert values == reference.loss_fn_outputs[0]["logprobs"].data
    assert first.__dict__["data"] is values and first._array is None


def test_json_fallback_when_the_server_answers_json(emulator_url: str):
    """The client asks for protobuf results; a server that answers JSON is understood too."""
    def ask_for_json(path: str, headers: dict[str, str]) -> dict[str, str]:
        if path == RETRIEVE:
            headers = {**headers, "accept": "application/json"}
        return headers

    with RecordingProxy(emulator_url, rewrite_request=ask_for_json) as proxy:
        run = train_and_sample(proxy.url, "protobuf")
    reference = train_and_sample(emulator_url, "json")
    polls = result_polls(proxy)
    assert polls and all(e.response_headers["content-type"].startswith("application/json")
                         for e in polls)
    assert all(e.request_headers["content-type"] == PROTOBUF
               for e in proxy.to(FORWARD_BACKWARD))  # requests still went as protobuf
    for step in ("forward", "first", "second", "custom"):
        assert_same_passes(reference[step], run[step])
    tensor = run["second"].loss_fn_outputs[0]["logprobs"]
    assert tensor._array is None and isinstance(tensor.__dict__["data"], list)  # parsed JSON
    assert [s.tokens for s in run["sample"].sequences] == [
        s.tokens for s in reference["sample"].sequences]


def test_an_unknown_wire_format_is_refused():
    with pytest.raises(ValueError, match="wire_format"):
        tinkex.ServiceClient(base_url="http://127.0.0.1:9", api_key=KEY, wire_format="xml")
