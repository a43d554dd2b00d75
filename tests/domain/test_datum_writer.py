"""Datums written straight to bytes are the message the generated classes serialize."""

from __future__ import annotations

import numpy as np
import pytest

from tinkex import types as T
from tinkex.proto import pb
from tinkex.proto._request import (
    DatumSpans,
    ProvenanceSpan,
    forward_backward_request_to_proto,
    serialize_forward_backward_request,
)


def _datums() -> list[T.Datum]:
    rng = np.random.default_rng(1)
    data = []
    for i in range(24):
        n = int(rng.integers(0, 300))  # varint lengths of one and two bytes
        chunks: list[object] = [T.EncodedTextChunk(tokens=rng.integers(0, 70_000, n).tolist())]
        if i % 5 == 3:
            chunks.append(T.EncodedTextChunk(tokens=[]))
        if i % 6 == 5:  # an image: this datum goes through the generated classes
            chunks.append(T.ImageChunk(data="aGVsbG8=", format="png", expected_tokens=3))
        inputs = {"target_tokens": T.TensorData.from_numpy(rng.integers(0, 300, n)),
                  "weights": T.TensorData.from_numpy(rng.random(n).astype(np.float32))}
        if i % 4 == 1:  # list-backed, with a shape
            inputs["advantages"] = T.TensorData(data=[0.5] * n, dtype="float32", shape=[n])
        if i % 7 == 2:  # sparse: generated classes
            inputs["mask"] = T.TensorData(data=[1.0, 2.0], dtype="float32", shape=[2, 3],
                                          sparse_crow_indices=[0, 1, 2], sparse_col_indices=[0, 2])
        data.append(T.Datum(model_input=T.ModelInput(chunks=chunks), loss_fn_inputs=inputs))
    return data


@pytest.mark.parametrize("with_spans", [False, True])
def test_written_bytes_are_the_generated_message(with_spans):
    fb = T.ForwardBackwardInput(data=_datums(), loss_fn="importance_sampling",
                                loss_fn_config={"clip": 1.5, "mode": "x"})
    spans = None
    if with_spans:
        spans = [None] * 23 + [DatumSpans((ProvenanceSpan("prompt", "seq-1", 0, 1),), ())]
    expected = forward_backward_request_to_proto("model", 7, fb, forward_only=True, spans=spans)
    written = serialize_forward_backward_request("model", 7, fb, forward_only=True, spans=spans)
    parsed = pb.ForwardBackwardRequest()
    parsed.ParseFromString(written)
    assert parsed == expected  # field order may differ (the config maps come first)
    assert len(written) == len(expected.SerializeToString())


def test_bad_values_are_refused_naming_the_datum():
    datum = T.Datum(model_input=T.ModelInput(chunks=[T.EncodedTextChunk(tokens=[2**31])]),
                    loss_fn_inputs={})
    fb = T.ForwardBackwardInput(data=[datum], loss_fn="cross_entropy")
    with pytest.raises(ValueError, match="datum 0 chunk 0: cannot encode as int32"):
        serialize_forward_backward_request("model", 1, fb)
