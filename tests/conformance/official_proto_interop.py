"""Run by official SDK 0.38.0's interpreter: its protobuf code against ours, byte for byte.

Not a pytest module: ``test_official_sdk_038.py`` writes our encodings into a
directory and runs ``python official_proto_interop.py DIR``. This script

* dumps the official schema (every field's number, type, label and oneof) to
  ``DIR/official_schema.json`` for comparison with ours,
* decodes our ``fbo.bin`` / ``sample.bin`` with the official decoders and writes
  what a user of the SDK would see to ``DIR/decoded.json``,
* encodes a ForwardBackwardRequest with the official encoder (image chunk,
  sparse tensor, string + number loss config, provenance spans, forward_only)
  into ``DIR/request.bin`` and its zstd form, as the SDK sends it, into
  ``DIR/request.zst``.

Any failure raises (exit status != 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import zstandard
from proto_schema import describe  # beside this script
from tinker import types
from tinker.proto import tinker_public_pb2
from tinker.proto.request_conv import forward_backward_request_to_proto
from tinker.proto.response_conv import (
    deserialize_forward_backward_output,
    deserialize_sample_response,
)
from tinker.types.forward_backward_request import ForwardBackwardRequest
from tinker.types.provenance_spans import PromptProvenanceSpan, SampledProvenanceSpan


def tensor(td: Any) -> dict[str, Any] | None:
    if td is None:
        return None
    return {"data": list(td.data), "dtype": td.dtype, "shape": td.shape,
            "crow": td.sparse_crow_indices, "col": td.sparse_col_indices}


def decoded(directory: Path) -> dict[str, Any]:
    fbo = deserialize_forward_backward_output((directory / "fbo.bin").read_bytes())
    sample = deserialize_sample_response((directory / "sample.bin").read_bytes())
    return {
        "fbo": {"loss_fn_output_type": fbo.loss_fn_output_type, "metrics": fbo.metrics,
                "outputs": [{name: tensor(td) for name, td in out.items()}
                            for out in fbo.loss_fn_outputs]},
        "sample": {
            "sequences": [{"stop_reason": s.stop_reason, "tokens": s.tokens,
                           "logprobs": s.logprobs, "topk_logprobs": s.topk_logprobs}
                          for s in sample.sequences],
            "prompt_logprobs": sample.prompt_logprobs,
            "topk_prompt_logprobs": sample.topk_prompt_logprobs,
            "prompt_cache_hit_tokens": sample.prompt_cache_hit_tokens,
            "target_prompt_logprobs": tensor(sample.target_prompt_logprobs),
            "prompt_alt_tokens": None if sample.prompt_alt_tokens is None else {
                "tokens": tensor(sample.prompt_alt_tokens.tokens),
                "logprobs": tensor(sample.prompt_alt_tokens.logprobs)}}}


def request() -> bytes:
    """The request our decoder must read back (values mirrored in the test)."""
    tokens = [5, 6, 7]
    datum = types.Datum(
        model_input=types.ModelInput(chunks=[
            types.EncodedTextChunk(tokens=tokens),
            types.ImageChunk(data=b"\x89PNG-bytes", format="png", expected_tokens=2)]),
        loss_fn_inputs={
            "target_tokens": types.TensorData(data=[6, 7, 8, 9, 10], dtype="int64", shape=[5]),
            "weights": types.TensorData(data=[0.5, 2.0], dtype="float32", shape=[5, 2],
                                        sparse_crow_indices=[0, 1, 1, 1, 1, 2],
                                        sparse_col_indices=[1, 0])})
    datum = datum.with_provenance(
        model_input=[PromptProvenanceSpan(sequence_id="seq-a", offset=0, length=3),
                     SampledProvenanceSpan(sequence_id="seq-b", offset=1, length=2)],
        loss_fn_inputs=[SampledProvenanceSpan(sequence_id="seq-b", offset=0, length=5)])
    message = forward_backward_request_to_proto(ForwardBackwardRequest(
        forward_backward_input=types.ForwardBackwardInput(
            data=[datum], loss_fn="ppo",
            loss_fn_config={"clip_low_threshold": 0.75, "loss_id": "custom-1"}),
        model_id="sess:train:0", seq_id=4))
    message.forward_only = True  # what TrainingClient.forward adds
    return message.SerializeToString()


def main() -> None:
    directory = Path(sys.argv[1])
    (directory / "official_schema.json").write_text(json.dumps(describe(tinker_public_pb2.DESCRIPTOR)))
    (directory / "decoded.json").write_text(json.dumps(decoded(directory)))
    body = request()
    (directory / "request.bin").write_bytes(body)
    (directory / "request.zst").write_bytes(zstandard.ZstdCompressor().compress(body))
    print("OK", flush=True)


if __name__ == "__main__":
    main()
