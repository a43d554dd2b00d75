"""Protobuf on the wire: the codec's decoding rules, zstd, and the emulator speaking it.

The codec tests build wire messages by hand (``pb.*``) wherever a rule is about
*reading* what another implementation wrote, so they do not merely check that
our encoder and decoder agree with each other. The emulator tests drive it over
HTTP the way SDK >= 0.25 do (protobuf bodies, ``Accept: application/x-protobuf``)
and check that it computes exactly what the JSON path computes.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import pytest
import requests
import zstandard
from emulator_client import TEXT, Client, StartEmulator, datum, fb_body, optim_body

from tinkex import types as T
from tinkex.emulator import FaultConfig
from tinkex.emulator.http import auth
from tinkex.emulator.http.encoding import PROTOBUF_REQUESTS
from tinkex.emulator.http.handlers.service import CLIENT_CONFIG
from tinkex.emulator.http.served import document_bytes
from tinkex.proto import codec, pb
from tinkex.proto.compression import UnsupportedEncodingError, compress, decompress

PROTO = "application/x-protobuf"

# ============================================================================ codec helpers


def text_datum(tokens: list[int] = TEXT, weights: list[float] | None = None) -> T.Datum:
    n = len(tokens) - 1
    return T.Datum(model_input=T.ModelInput.from_ints(tokens[:-1]),
                   loss_fn_inputs={"target_tokens": T.TensorData(data=tokens[1:], dtype="int64",
                                                                 shape=[n]),
                                   "weights": T.TensorData(data=weights or [1.0] * n,
                                                           dtype="float32", shape=[n])})


def fb_input(data: list[T.Datum] | None = None, loss_fn: str = "cross_entropy",
             config: dict[str, float | str] | None = None) -> T.ForwardBackwardInput:
    return T.ForwardBackwardInput(data=data or [text_datum()], loss_fn=loss_fn,
                                  loss_fn_config=config)


def le(values: list[float] | list[int], dtype: str) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def batched(per_datum: list[list[float]], dtype: str, wire: int,
            trailing: list[int] | None = None) -> pb.BatchedTensor:
    """A BatchedTensor written the way the spec describes: byte offsets into ``data``."""
    itemsize = np.dtype(dtype).itemsize
    sizes = [len(v) for v in per_datum]
    offsets = np.concatenate([[0], np.cumsum(sizes)]) * itemsize
    return pb.BatchedTensor(data=le(sum(per_datum, []), dtype), offsets=le(offsets, "<i8"),
                            dtype=wire, trailing_shape=trailing or [])


# ============================================================================ codec: requests


def test_request_round_trip_keeps_every_public_field() -> None:
    sparse = T.TensorData(data=[1.0, 2.0], dtype="float32", shape=[2, 3],
                          sparse_crow_indices=[0, 1, 2], sparse_col_indices=[2, 0])
    image = T.ImageChunk(data=base64.b64encode(b"\x89PNG fake").decode(), format="png",
                         expected_tokens=3)
    dmel = T.DmelChunk(dmel=base64.b64encode(b"\x00\x01\x02").decode())
    rich = T.Datum(model_input=T.ModelInput(chunks=[T.EncodedTextChunk(tokens=[5, 6]), image,
                                                    dmel, T.EncodedTextChunk(tokens=[7])]),
                   loss_fn_inputs={"target_tokens": T.TensorData(data=[1, 2, 3], dtype="int64"),
                                   "mask": sparse})
    original = fb_input([text_datum(), rich], "ppo",
                        {"clip_low_threshold": 0.8, "loss_id": "abc"})
    body = codec.encode_forward_backward_request("m:train:0", 7, original, forward_only=True)
    call = codec.decode_forward_backward_request(body)
    assert (call.model_id, call.seq_id, call.forward_only) == ("m:train:0", 7, True)
    assert call.input == original
    assert call.spans is None
    assert call.input.data[1].loss_fn_inputs["mask"].to_numpy().tolist() == [[0, 0, 1],
                                                                              [2, 0, 0]]


def test_request_wire_layout_matches_the_spec() -> None:
    """Tokens are int32 bytes, tensors raw bytes in their dtype, seq_id None is 0."""
    message = codec.forward_backward_request_to_proto("m", None, fb_input(config={"beta": 2}))
    wire = pb.ForwardBackwardRequest.FromString(message.SerializeToString())
    assert wire.seq_id == 0 and wire.loss_fn == "cross_entropy" and not wire.forward_only
    datum = wire.data[0]
    assert datum.model_input[0].encoded_text.tokens == le(TEXT[:-1], "<i4")
    targets = datum.loss_fn_inputs["target_tokens"]
    assert (targets.dtype, list(targets.shape)) == (pb.DTYPE_INT64, [len(TEXT) - 1])
    assert targets.dense == le(TEXT[1:], "<i8")
    assert datum.loss_fn_inputs["weights"].dense == le([1.0] * (len(TEXT) - 1), "<f4")
    # numeric config is dual-written: the v1 map for old servers, v2 for new ones
    assert dict(wire.loss_fn_config) == {"beta": 2.0}
    assert wire.loss_fn_config_v2["beta"].number == 2.0


def test_string_config_goes_to_v2_only_and_v2_wins_over_v1() -> None:
    wire = codec.forward_backward_request_to_proto("m", 1, fb_input(config={"loss_id": "x"}))
    assert dict(wire.loss_fn_config) == {} and wire.loss_fn_config_v2["loss_id"].text == "x"

    message = pb.ForwardBackwardRequest(model_id="m", seq_id=1, loss_fn="ppo",
                                        loss_fn_config={"clip_low_threshold": 0.1})
    message.data.add().model_input.add().encoded_text.tokens = le([1, 2], "<i4")
    assert codec.forward_backward_request_from_proto(message).input.loss_fn_config == {
        "clip_low_threshold": 0.1}  # v1 alone (SDK 0.19 - 0.26)
    message.loss_fn_config_v2["clip_low_threshold"].number = 0.7
    message.loss_fn_config_v2["tag"].text = "t"
    assert codec.forward_backward_request_from_proto(message).input.loss_fn_config == {
        "clip_low_threshold": 0.7, "tag": "t"}
    bare = pb.ForwardBackwardRequest(model_id="m", loss_fn="ppo")
    bare.data.add().model_input.add().encoded_text.tokens = le([1, 2], "<i4")
    assert codec.forward_backward_request_from_proto(bare).input.loss_fn_config is None
    with pytest.raises(codec.ProtoDecodeError, match="data"):  # a pass needs a datum
        codec.forward_backward_request_from_proto(pb.ForwardBackwardRequest(model_id="m",
                                                                            loss_fn="ppo"))


def test_request_decoding_widens_int32_and_bfloat16_and_reads_sparse_csr() -> None:
    message = pb.ForwardBackwardRequest(model_id="m", seq_id=3, loss_fn="cross_entropy")
    datum = message.data.add()
    datum.model_input.add().encoded_text.tokens = le([1, 2], "<i4")
    datum.loss_fn_inputs["target_tokens"].CopyFrom(
        pb.Tensor(dense=le([2, 3], "<i4"), dtype=pb.DTYPE_INT32, shape=[2]))
    datum.loss_fn_inputs["weights"].CopyFrom(  # bfloat16 1.0 and -2.0
        pb.Tensor(dense=le([0x3F80, 0xC000], "<u2"), dtype=pb.DTYPE_BFLOAT16))
    datum.loss_fn_inputs["advantages"].sparse_csr.CopyFrom(pb.SparseCsr(
        values=le([0.5], "<f4"), crow_indices=le([0, 0, 1], "<i8"), col_indices=le([1], "<i8")))
    datum.loss_fn_inputs["advantages"].dtype = pb.DTYPE_FLOAT32
    datum.loss_fn_inputs["advantages"].shape.extend([2, 2])
    inputs = codec.forward_backward_request_from_proto(message).input.data[0].loss_fn_inputs
    assert inputs["target_tokens"] == T.TensorData(data=[2, 3], dtype="int64", shape=[2])
    assert inputs["weights"] == T.TensorData(data=[1.0, -2.0], dtype="float32")
    assert inputs["advantages"].to_numpy().tolist() == [[0.0, 0.0], [0.0, 0.5]]


def test_provenance_spans_round_trip() -> None:
    spans = [codec.DatumSpans(
        model_input=(codec.ProvenanceSpan("prompt", "s:0", 0, 4),
                     codec.ProvenanceSpan("sampled", "s:1", 0, 3)),
        loss_fn_inputs=(codec.ProvenanceSpan("sampled", "s:1", 1, 7),)), None]
    data = [text_datum(), text_datum()]
    body = codec.encode_forward_backward_request("m", 1, fb_input(data), spans=spans)
    assert codec.decode_forward_backward_request(body).spans == tuple(spans)
    with pytest.raises(ValueError, match="spans has 1 entries"):
        codec.encode_forward_backward_request("m", 1, fb_input(data), spans=spans[:1])


def test_values_without_a_protobuf_form_are_refused_when_encoding() -> None:
    pointer = T.Datum(model_input=T.ModelInput(chunks=[T.ImageAssetPointerChunk(
        format="png", location="s3://bucket/cat.png", expected_tokens=4)]))
    with pytest.raises(ValueError, match="no protobuf form"):
        codec.encode_forward_backward_request("m", 1, fb_input([pointer]))
    huge = T.Datum(model_input=T.ModelInput.from_ints([2**31]))
    with pytest.raises(ValueError, match="int32"):
        codec.encode_forward_backward_request("m", 1, fb_input([huge]))


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m.data.add().model_input.add().encoded_text.__setattr__("tokens", b"\x01\x02"),
     "whole number of int32"),
    (lambda m: m.data.add().model_input.add(), "empty chunk"),
    (lambda m: m.data.add().loss_fn_inputs["w"].CopyFrom(pb.Tensor(dense=b"", dtype=9)),
     "unsupported dtype"),
    (lambda m: (m.data.add().model_input.add().encoded_text.__setattr__("tokens", le([1], "<i4")),
                setattr(m, "loss_fn", "no_such_loss")), "loss_fn"),
])
def test_malformed_requests_are_decode_errors(mutate: Any, message: str) -> None:
    wire = pb.ForwardBackwardRequest(model_id="m", seq_id=1, loss_fn="cross_entropy")
    mutate(wire)
    with pytest.raises(codec.ProtoDecodeError, match=message):
        codec.decode_forward_backward_request(wire.SerializeToString())
    with pytest.raises(codec.ProtoDecodeError, match="not a valid protobuf"):
        codec.decode_forward_backward_request(b"\xff\xff\xff")


# ============================================================================ codec: ForwardBackwardOutput


def test_output_round_trip_uses_one_record_with_byte_offsets() -> None:
    outputs = [{"logprobs": T.TensorData(data=[-1.0, -2.0, -3.0], dtype="float32", shape=[3]),
                "ids": T.TensorData(data=[1, 2, 3, 4], dtype="int64", shape=[2, 2])},
               {"logprobs": T.TensorData(data=[-4.0], dtype="float32", shape=[1]),
                "ids": T.TensorData(data=[5, 6], dtype="int64", shape=[1, 2])}]
    output = T.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord",
                                     loss_fn_outputs=outputs, metrics={"loss:sum": 10.0})
    wire = codec.forward_backward_output_to_proto(output)
    assert len(wire.loss_fn_outputs) == 1 and wire.loss_fn_outputs[0].num_datums == 2
    logprobs = wire.loss_fn_outputs[0].fields["logprobs"]
    assert np.frombuffer(logprobs.offsets, "<i8").tolist() == [0, 12, 16]  # bytes, not items
    assert list(wire.loss_fn_outputs[0].fields["ids"].trailing_shape) == [2]
    assert codec.decode_forward_backward_output(wire.SerializeToString()) == output


def test_output_decoding_of_several_records_widens_and_reshapes() -> None:
    """Ragged outputs arrive as several rectangular records with their own dtype/shape."""
    first = pb.ArrayRecord(type_tag="t", num_datums=2, fields={
        "logprobs": batched([[-1.0, -2.0], [-3.0]], "<f4", pb.DTYPE_FLOAT32),
        "ids": batched([[1, 2, 3, 4], [5, 6]], "<i4", pb.DTYPE_INT32, trailing=[2])})
    second = pb.ArrayRecord(type_tag="t", num_datums=1, fields={
        "logprobs": batched([[0x3F80, 0xBF80]], "<u2", pb.DTYPE_BFLOAT16),
        "ids": batched([[7, 8, 9]], "<i8", pb.DTYPE_INT64, trailing=[3])})
    wire = pb.ForwardBackwardOutput(loss_fn_output_type="tinker.losses:TorchLossReturn",
                                    loss_fn_outputs=[first, second], metrics={"loss:sum": 1.5})
    out = codec.decode_forward_backward_output(wire.SerializeToString())
    assert out.loss_fn_output_type == "TorchLossReturn"  # text after the last colon
    assert out.metrics == {"loss:sum": 1.5}
    assert [o["logprobs"].data for o in out.loss_fn_outputs] == [[-1.0, -2.0], [-3.0],
                                                                 [1.0, -1.0]]
    assert [(o["ids"].dtype.value, o["ids"].shape) for o in out.loss_fn_outputs] == [
        ("int64", [2, 2]), ("int64", [1, 2]), ("int64", [1, 3])]
    assert out.loss_fn_outputs[0]["ids"].to_numpy().tolist() == [[1, 2], [3, 4]]


def test_output_datum_count_rules() -> None:
    # no records: the label is kept as is (or ArrayRecord when empty)
    empty = codec.decode_forward_backward_output(
        pb.ForwardBackwardOutput(metrics={"loss:sum": 0.0}).SerializeToString())
    assert (empty.loss_fn_output_type, empty.loss_fn_outputs) == ("ArrayRecord", [])
    # num_datums counts even with no fields (a server may strip every field)
    stripped = pb.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord",
                                        loss_fn_outputs=[pb.ArrayRecord(num_datums=2)])
    assert codec.decode_forward_backward_output(
        stripped.SerializeToString()).loss_fn_outputs == [{}, {}]
    # writers older than num_datums: the first field's count
    old = pb.ArrayRecord(fields={"logprobs": batched([[1.0], [2.0], [3.0]], "<f4",
                                                     pb.DTYPE_FLOAT32)})
    assert len(codec.decode_forward_backward_output(pb.ForwardBackwardOutput(
        loss_fn_outputs=[old]).SerializeToString()).loss_fn_outputs) == 3


@pytest.mark.parametrize("record, message", [
    (pb.ArrayRecord(num_datums=1, fields={"x": pb.BatchedTensor(
        data=le([1.0], "<f4"), offsets=le([0, 8], "<i8"), dtype=pb.DTYPE_FLOAT32)}),
     "offsets do not tile"),
    (pb.ArrayRecord(num_datums=1, fields={"x": pb.BatchedTensor(
        data=le([1.0], "<f4"), offsets=le([0, 4], "<i8"), dtype=pb.DTYPE_UNSPECIFIED)}),
     "unsupported dtype"),
    (pb.ArrayRecord(num_datums=3, fields={"x": batched([[1.0]], "<f4", pb.DTYPE_FLOAT32)}),
     "has 1 datums, expected 3"),
    (pb.ArrayRecord(num_datums=1, fields={"x": batched([[1.0, 2.0, 3.0]], "<f4",
                                                       pb.DTYPE_FLOAT32, trailing=[2])}),
     "do not fill rows"),
])
def test_malformed_outputs_are_decode_errors(record: pb.ArrayRecord, message: str) -> None:
    wire = pb.ForwardBackwardOutput(loss_fn_outputs=[record])
    with pytest.raises(codec.ProtoDecodeError, match=message):
        codec.decode_forward_backward_output(wire.SerializeToString())


def test_outputs_with_different_field_names_per_datum_cannot_be_encoded() -> None:
    output = T.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", metrics={}, loss_fn_outputs=[
        {"a": T.TensorData(data=[1.0], dtype="float32")},
        {"b": T.TensorData(data=[1.0], dtype="float32")}])
    with pytest.raises(ValueError, match="same field names"):
        codec.encode_forward_backward_output(output)


# ============================================================================ codec: SampleResponse


def test_sample_response_round_trip() -> None:
    response = T.SampleResponse(
        sequences=[T.SampledSequence(stop_reason="stop", tokens=[1, 2, 3],
                                     logprobs=[-0.5, -0.25, -1.0],
                                     topk_logprobs=[[(1, -0.5), (9, -2.0)], None, [(3, -1.0)]]),
                   T.SampledSequence(stop_reason="length", tokens=[4], logprobs=None)],
        prompt_logprobs=[None, -1.5, -2.5], topk_prompt_logprobs=[None, [(7, -1.5)], None],
        prompt_cache_hit_tokens=2,
        target_prompt_logprobs=T.TensorData(data=[-1.0], dtype="float32", shape=[2, 2],
                                            sparse_crow_indices=[0, 1, 1],
                                            sparse_col_indices=[1]),
        prompt_alt_tokens=T.PromptAltTokens(
            tokens=T.TensorData(data=[5, 6, 7, 8], dtype="int64", shape=[2, 2]),
            logprobs=T.TensorData(data=[-0.1, -0.2, -0.3, -0.4], dtype="float32",
                                  shape=[2, 2])))
    decoded = codec.decode_sample_response(codec.encode_sample_response(response))
    assert decoded.sequences == response.sequences
    assert decoded.prompt_logprobs == response.prompt_logprobs
    assert decoded.topk_prompt_logprobs == response.topk_prompt_logprobs
    assert decoded.prompt_cache_hit_tokens == 2
    assert decoded.target_prompt_logprobs == response.target_prompt_logprobs
    assert decoded.prompt_alt_tokens.tokens == response.prompt_alt_tokens.tokens
    assert np.allclose(decoded.prompt_alt_tokens.logprobs.data,
                       response.prompt_alt_tokens.logprobs.data)


def test_sample_response_decoding_rules() -> None:
    sentinel = (0, -99999.0)
    cells = [sentinel, sentinel, (4, -1.0), sentinel, (5, -0.5), (6, -0.75)]
    topk = pb.TopkLogprobs(token_ids=le([c[0] for c in cells], "<i4"),
                           logprobs=le([c[1] for c in cells], "<f4"), k=2, length=3)
    wire = pb.SampleResponse(
        sequences=[pb.SampledSequence(stop_reason=pb.STOP_REASON_LENGTH, tokens=le([1, 2], "<i4"),
                                      logprobs=le([-1.0, -2.0], "<f4")),
                   pb.SampledSequence(stop_reason=pb.STOP_REASON_STOP, tokens=b"")],
        prompt_logprobs=le([np.nan, -1.0, np.nan], "<f4"), topk_prompt_logprobs=topk)
    wire.sequences[1].topk_sampled_logprobs.CopyFrom(pb.TopkLogprobs(k=0, length=0))
    out = codec.decode_sample_response(wire.SerializeToString())
    assert [s.stop_reason.value for s in out.sequences] == ["length", "stop"]
    assert out.sequences[0].tokens == [1, 2] and out.sequences[0].logprobs == [-1.0, -2.0]
    assert out.sequences[1].tokens == [] and out.sequences[1].logprobs is None
    assert out.sequences[1].topk_logprobs is None  # length 0 / k 0 means absent
    assert out.prompt_logprobs == [None, -1.0, None]  # NaN -> None
    # a row starting with the sentinel is None; trailing sentinel cells are dropped
    assert out.topk_prompt_logprobs == [None, [(4, -1.0)], [(5, -0.5), (6, -0.75)]]
    assert out.sequences[0].sequence_id is None  # stamped client-side from the future

    wire.sequences[0].stop_reason = 5  # type: ignore[assignment]
    with pytest.raises(codec.ProtoDecodeError, match="stop_reason"):
        codec.decode_sample_response(wire.SerializeToString())


def test_a_list_of_empty_topk_rows_survives_encoding() -> None:
    response = T.SampleResponse(sequences=[], topk_prompt_logprobs=[None])
    wire = codec.sample_response_to_proto(response)
    assert (wire.topk_prompt_logprobs.length, wire.topk_prompt_logprobs.k) == (1, 1)
    assert codec.decode_sample_response(wire.SerializeToString()).topk_prompt_logprobs == [None]


def test_results_dispatch_by_type() -> None:
    output = T.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", loss_fn_outputs=[],
                                     metrics={"loss:sum": 1.0})
    assert codec.decode_result(codec.encode_result(output), T.ForwardBackwardOutput) == output
    with pytest.raises(TypeError):
        codec.encode_result(T.OptimStepResponse(metrics={}))
    with pytest.raises(TypeError):
        codec.decode_result(b"", T.OptimStepResponse)


# ============================================================================ codec: zstd, size


def test_zstd_round_trip_and_limits() -> None:
    body = codec.encode_forward_backward_request("m", 1, fb_input([text_datum()] * 4),
                                                 compressed=True)
    assert zstandard.frame_content_size(body) > 0  # one frame with its size, like the SDK's
    assert codec.decode_forward_backward_request(body, "zstd").input.data[3] == text_datum()
    assert decompress(compress(b"abc"), "ZSTD, identity") == b"abc"
    assert decompress(b"plain", None) == b"plain"
    with pytest.raises(codec.ProtoDecodeError, match="declares"):  # size bomb refused up front
        decompress(compress(bytes(1000)), "zstd", max_size=999)
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(1000))
    with pytest.raises(codec.ProtoDecodeError):
        decompress(unsized, "zstd", max_size=999)
    assert decompress(unsized, "zstd") == bytes(1000)
    with pytest.raises(codec.ProtoDecodeError, match="not valid zstd"):
        decompress(b"garbage", "zstd")
    with pytest.raises(UnsupportedEncodingError):
        decompress(b"x", "gzip")


def test_size_estimate_follows_the_sdk_rule() -> None:
    """4 bytes per token, raw image / dmel bytes, tensor payload + 8 bytes per CSR index."""
    image = T.ImageChunk(data=base64.b64encode(b"12345").decode(), format="png",
                         expected_tokens=2)
    sparse = T.TensorData(data=[1.0, 2.0], dtype="float32", shape=[2, 2],
                          sparse_crow_indices=[0, 1, 2], sparse_col_indices=[0, 1])
    datum_ = T.Datum(model_input=T.ModelInput(chunks=[T.EncodedTextChunk(tokens=[1, 2, 3]),
                                                      image]),
                     loss_fn_inputs={"target_tokens": T.TensorData(data=[1, 2, 3, 4, 5],
                                                                   dtype="int64"),
                                     "weights": sparse})
    assert codec.estimate_datum_bytes(datum_) == 3 * 4 + 5 + 5 * 8 + (2 * 4 + 5 * 8)
    # for plain dense data the estimate is close to the real message size
    plain = text_datum(list(range(1000)))
    real = codec.forward_backward_request_to_proto("m", 1, fb_input([plain])).data[0].ByteSize()
    assert 0.95 < codec.estimate_datum_bytes(plain) / real < 1.0


def test_codec_is_vectorized_enough_for_large_batches() -> None:
    """256 datums of 2048 tokens: encode + decode both ways well under a second each."""
    rng = np.random.default_rng(0)
    data = [text_datum(rng.integers(0, 50_000, 2049).tolist()) for _ in range(256)]
    start = time.perf_counter()
    body = codec.encode_forward_backward_request("m", 1, fb_input(data))
    assert codec.decode_forward_backward_request(body).input.data[-1] == data[-1]
    outputs = [{"logprobs": T.TensorData.from_numpy(rng.standard_normal(2048).astype("f4"))}
               for _ in range(256)]
    output = T.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", loss_fn_outputs=outputs,
                                     metrics={})
    assert len(codec.decode_forward_backward_output(
        codec.encode_forward_backward_output(output)).loss_fn_outputs) == 256
    assert time.perf_counter() - start < 5.0


# ============================================================================ emulator


def manifest_protobuf_operations() -> set[str]:
    doc = json.loads(document_bytes())
    return {op["operationId"] for item in doc["paths"].values() for op in item.values()
            if isinstance(op, dict) and PROTO in op.get("requestBody", {}).get("content", {})}


def test_the_operations_that_take_protobuf_are_the_ones_the_document_lists() -> None:
    assert set(PROTOBUF_REQUESTS) == manifest_protobuf_operations() == {"forward_backward"}


def post_proto(client: Client, body: bytes, encoding: str | None = None,
               path: str = "/api/v1/forward_backward") -> requests.Response:
    headers = {"Content-Type": PROTO}
    if encoding:
        headers["Content-Encoding"] = encoding
    return client.session.post(client.base_url + path, data=body, headers=headers, timeout=30)


def result(client: Client, request_id: str, accept: str) -> requests.Response:
    """Poll until resolved (skipping 408s); returns the final 200 response."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.session.post(client.base_url + "/api/v1/retrieve_future",
                                       json={"request_id": request_id}, headers={"Accept": accept},
                                       timeout=30)
        if response.status_code != 408:
            assert response.status_code == 200, response.text
            return response
    raise AssertionError(f"future {request_id} not resolved")


def create_model(client: Client, session: str, seq: int) -> str:
    return str(client.run("/api/v1/create_model", {
        "session_id": session, "model_seq_id": seq, "base_model": "tinkex/micro-lm",
        "lora_config": {"rank": 4, "seed": 11}})["model_id"])


def test_json_and_protobuf_give_identical_training_and_sampling(
        start_emulator: StartEmulator) -> None:
    emulator = start_emulator()
    client = Client(emulator.base_url)
    session = client.session_id()
    json_model, proto_model = create_model(client, session, 0), create_model(client, session, 1)
    batch = [text_datum(), text_datum([256, *b"a dog ran"])]
    json_batch = [datum(), datum([256, *b"a dog ran"])]
    seq, losses = 0, []
    for step in range(4):
        seq += 1
        json_id = client.submit("/api/v1/forward_backward", fb_body(json_model, seq, json_batch))
        proto_body = codec.encode_forward_backward_request(proto_model, seq, fb_input(batch),
                                                           compressed=step % 2 == 1)
        response = post_proto(client, proto_body, "zstd" if step % 2 else None)
        assert response.status_code == 200, response.text
        proto_id = response.json()["request_id"]
        json_out = T.ForwardBackwardOutput.model_validate(
            result(client, json_id, "application/json").json())
        raw = result(client, proto_id, PROTO)
        assert raw.headers["content-type"] == PROTO
        proto_out = codec.decode_forward_backward_output(raw.content)
        assert proto_out == json_out  # bit for bit: float32 survives both encodings
        losses.append(proto_out.metrics["loss:sum"])
        seq += 1
        for model in (json_model, proto_model):
            client.run("/api/v1/optim_step", optim_body(model, seq))
    assert losses[-1] < losses[0]

    # A protobuf forward_only pass is a forward (label Forward) equal to the JSON /forward.
    seq += 1
    body = codec.encode_forward_backward_request(proto_model, seq, fb_input(batch),
                                                 forward_only=True)
    forward_id = post_proto(client, body).json()["request_id"]
    record = emulator.services.futures.get(forward_id, auth.owner_of(client.session.headers))
    forward = codec.decode_forward_backward_output(result(client, forward_id, PROTO).content)
    assert record.request_type == "Forward"
    json_forward = client.run("/api/v1/forward", {
        "model_id": json_model, "seq_id": seq,
        "forward_input": {"data": json_batch, "loss_fn": "cross_entropy"}})
    assert forward == T.ForwardBackwardOutput.model_validate(json_forward)

    # Samplers of both models, same seed: JSON and protobuf answers carry the same samples.
    samples = []
    seq += 1
    for i, (model, accept) in enumerate([(json_model, "application/json"), (proto_model, PROTO)]):
        sampler = client.run("/api/v1/save_weights_for_sampler", {
            "model_id": model, "seq_id": seq, "sampling_session_seq_id": 10 + i})
        request_id = client.submit("/api/v1/asample", {
            "num_samples": 3, "prompt": {"chunks": [{"type": "encoded_text", "tokens": TEXT[:6]}]},
            "sampling_params": {"max_tokens": 8, "seed": 5, "temperature": 1.0},
            "sampling_session_id": sampler["sampling_session_id"], "seq_id": 0,
            "prompt_logprobs": True, "topk_prompt_logprobs": 2})
        raw = result(client, request_id, accept)
        samples.append(codec.decode_sample_response(raw.content) if accept == PROTO
                       else T.SampleResponse.model_validate(raw.json()))
    from_json, from_proto = samples
    assert [s.tokens for s in from_json.sequences] == [s.tokens for s in from_proto.sequences]
    for a, b in zip(from_json.sequences, from_proto.sequences, strict=True):
        assert np.array_equal(np.float32(a.logprobs), b.logprobs)
    assert from_proto.prompt_logprobs[0] is None
    assert np.array_equal(np.float32(from_json.prompt_logprobs[1:]), from_proto.prompt_logprobs[1:])
    assert [row and [t for t, _ in row] for row in from_json.topk_prompt_logprobs] == [
        row and [t for t, _ in row] for row in from_proto.topk_prompt_logprobs]


def test_result_media_follows_accept_and_other_replies_stay_json(client: Client) -> None:
    model = client.model()
    request_id = client.submit("/api/v1/forward_backward", fb_body(model, 1))
    both = result(client, request_id, "application/x-protobuf, application/json")  # SDK 0.24
    assert both.headers["content-type"] == PROTO
    assert result(client, request_id, "application/json").json()["loss_fn_output_type"]
    assert result(client, request_id, f"{PROTO};q=0, application/json").headers[
        "content-type"].startswith("application/json")
    assert result(client, request_id, "").headers["content-type"].startswith("application/json")
    # results without a protobuf form are JSON whatever the client asks for
    optim = client.submit("/api/v1/optim_step", optim_body(model, 2))
    assert "metrics" in result(client, optim, PROTO).json()
    # failures stay JSON too
    bad = client.submit("/api/v1/forward_backward", fb_body(model, 3, [{
        "model_input": {"chunks": [{"type": "encoded_text", "tokens": [1, 2]}]},
        "loss_fn_inputs": {"target_tokens": {"data": [1], "dtype": "int64"}}}]))
    failed = result(client, bad, PROTO)
    assert failed.headers["content-type"].startswith("application/json")
    assert failed.json()["category"] == "user"


def test_not_ready_answers_stay_json(start_emulator: StartEmulator) -> None:
    slow = start_emulator(poll_hold=0.05, faults=FaultConfig(hold=0.05))
    client = Client(slow.base_url)
    model = client.model()
    body = codec.encode_forward_backward_request(model, 1, fb_input())
    request_id = post_proto(client, body).json()["request_id"]
    first = client.session.post(client.base_url + "/api/v1/retrieve_future",
                                json={"request_id": request_id}, headers={"Accept": PROTO},
                                timeout=30)
    assert first.status_code == 408 and first.json()["type"] == "try_again"
    assert codec.decode_forward_backward_output(result(client, request_id, PROTO).content)


@pytest.mark.parametrize("body, encoding, path, status, detail", [
    (b"\xff\xff", None, "/api/v1/forward_backward", 400, "malformed protobuf"),
    (b"", None, "/api/v1/forward_backward", 400, "body is required"),
    (b"not zstd", "zstd", "/api/v1/forward_backward", 400, "not valid zstd"),
    (b"x", "br", "/api/v1/forward_backward", 415, "not supported"),
    (b"x", None, "/api/v1/optim_step", 415, "takes a JSON body"),
])
def test_bad_protobuf_requests_are_client_errors(client: Client, body: bytes,
                                                 encoding: str | None, path: str, status: int,
                                                 detail: str) -> None:
    response = post_proto(client, body, encoding, path)
    assert response.status_code == status, response.text
    assert detail in str(response.json()["detail"])


def test_protobuf_request_for_an_unknown_model_is_404(client: Client) -> None:
    body = codec.encode_forward_backward_request("nobody:train:0", 1, fb_input())
    assert post_proto(client, body).status_code == 404


def test_client_config_flags(start_emulator: StartEmulator) -> None:
    def flags(client: Client) -> dict[str, object]:
        config = client.ok("POST", "/api/v1/client/config", {"sdk_version": "0.24.1"})
        assert config.pop("console_url").startswith(client.base_url + "/console/link/")
        return dict(config)

    defaults = dict(CLIENT_CONFIG, pjwt_auth_enabled=True, proto_write_fwdbwd=False,
                    proto_compress_fwdbwd=False, sample_use_retrieve_futures=False,
                    sample_join_sampling_session=True, custom_loss_server_side=False)
    assert flags(Client(start_emulator().base_url)) == defaults
    flagged = Client(start_emulator(proto_fwdbwd=True, proto_compress_fwdbwd=True,
                                    jwt_auth=False).base_url)
    assert flags(flagged) == dict(defaults, proto_write_fwdbwd=True, proto_compress_fwdbwd=True,
                                  pjwt_auth_enabled=False)


def test_protobuf_flags_parse_from_the_command_line_and_the_environment() -> None:
    from tinkex.emulator.config import parse_config

    assert not parse_config(["--data-dir", "d"]).proto_fwdbwd
    flagged = parse_config(["--data-dir", "d", "--proto-fwdbwd", "--proto-compress-fwdbwd"])
    assert flagged.proto_fwdbwd and flagged.proto_compress_fwdbwd
    env = {"TINKEX_EMULATOR_PROTO_FWDBWD": "true", "TINKEX_EMULATOR_PROTO_COMPRESS_FWDBWD": "0"}
    from_env = parse_config(["--data-dir", "d"], env=env)
    assert from_env.proto_fwdbwd and not from_env.proto_compress_fwdbwd
    assert not parse_config(["--data-dir", "d", "--proto-fwdbwd", "off"], env=env).proto_fwdbwd
