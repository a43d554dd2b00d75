"""``tinkex.wire``: the wire_format option against the server's client config, routes, estimates."""

from __future__ import annotations

import numpy as np
import pytest

from tinkex import chunking, types
from tinkex.proto import codec
from tinkex.wire import PassWire, decode_result, encode_pass, result_decoders

Config = types.ClientConfigResponse


@pytest.mark.parametrize(("wire_format", "config", "expected"), [
    ("json", Config(proto_write_fwdbwd=True, proto_compress_fwdbwd=True, fwd_via_fwdbwd=True),
     PassWire()),
    ("auto", Config(), PassWire()),
    ("auto", None, PassWire()),
    ("auto", Config(proto_compress_fwdbwd=True, fwd_via_fwdbwd=True), PassWire()),
    ("auto", Config(proto_write_fwdbwd=True), PassWire(protobuf=True)),
    ("auto", Config(proto_write_fwdbwd=True, proto_compress_fwdbwd=True, fwd_via_fwdbwd=True),
     PassWire(protobuf=True, compress=True, forward_via_fwdbwd=True)),
    ("protobuf", Config(), PassWire(protobuf=True, forward_via_fwdbwd=True)),
    ("protobuf", None, PassWire(protobuf=True, forward_via_fwdbwd=True)),
    ("protobuf", Config(proto_compress_fwdbwd=True),
     PassWire(protobuf=True, compress=True, forward_via_fwdbwd=True)),
])
def test_negotiation(wire_format, config, expected):
    assert PassWire.negotiate(wire_format, config) == expected


def test_routes():
    json_route = PassWire().route("forward")
    assert (json_route.operation, json_route.input_field, json_route.encode_body) == (
        "forward", "forward_input", None)
    assert json_route.estimate is chunking.estimate_datum_bytes
    # protobuf without fwd_via_fwdbwd: forward stays JSON, forward_backward is protobuf
    wire = PassWire(protobuf=True)
    assert wire.route("forward").encode_body is None
    fb = wire.route("forward_backward")
    assert (fb.operation, fb.input_field) == ("forward_backward", "forward_backward_input")
    assert fb.encode_body is not None and fb.estimate is codec.estimate_datum_bytes
    forward = PassWire(protobuf=True, forward_via_fwdbwd=True).route("forward")
    assert (forward.operation, forward.input_field) == ("forward_backward",
                                                         "forward_backward_input")
    with pytest.raises(ValueError, match="pass operation"):
        wire.route("optim_step")


def big_datum(tokens: int) -> types.Datum:
    return types.Datum(model_input=np.arange(tokens) % 256, loss_fn_inputs={
        "target_tokens": np.arange(tokens) % 256, "weights": np.ones(tokens)})


def test_protobuf_requests_are_chunked_by_the_protobuf_estimate():
    data = [big_datum(2048)] * 256  # JSON: 60 KB a datum, protobuf: 32 KB
    as_json = chunking.split_batch(data, estimate=PassWire().route("forward_backward").estimate)
    wire = PassWire(protobuf=True)
    as_protobuf = chunking.split_batch(data, estimate=wire.route("forward_backward").estimate)
    assert [len(c) for c in as_protobuf] == [152, 104]  # 152 * 32 KB <= 5 MB
    assert len(as_json) == 4
    # passes that must chunk alike (custom loss: JSON forward, protobuf backward) take the larger
    both = chunking.split_batch(data, estimate=wire.estimate("forward", "forward_backward"))
    assert [len(c) for c in both] == [len(c) for c in as_json]


def test_encode_pass_writes_the_numbered_body():
    fb_input = types.ForwardBackwardInput(data=[big_datum(4)], loss_fn="cross_entropy")
    body = {"model_id": "m", "seq_id": 7, "forward_backward_input": fb_input}
    plain = encode_pass(body, forward_only=True, compress=False)
    assert plain.content_type == "application/x-protobuf" and dict(plain.headers) == {}
    call = codec.decode_forward_backward_request(plain.content)
    assert (call.model_id, call.seq_id, call.forward_only) == ("m", 7, True)
    assert call.input == fb_input
    packed = encode_pass(body, forward_only=False, compress=True)
    assert dict(packed.headers) == {"Content-Encoding": "zstd"}
    unpacked = codec.decode_forward_backward_request(packed.content, "zstd")
    assert unpacked.input == fb_input and not unpacked.forward_only


def test_result_decoders():
    assert result_decoders("json") == {}
    decoders = result_decoders("auto")
    assert list(decoders) == ["application/x-protobuf"] and result_decoders("protobuf") == decoders
    output = types.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord",
                                         metrics={"loss:sum": 1.0}, loss_fn_outputs=[])
    assert decode_result(codec.encode_result(output), "ForwardBackwardOutput") == output
    with pytest.raises(TypeError):
        decode_result(b"", "NoSuchType")
    with pytest.raises(TypeError):
        decode_result(b"", "OptimStepResponse")  # JSON-only result type
