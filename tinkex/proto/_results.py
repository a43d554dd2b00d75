"""Future results that travel as protobuf: ``ForwardBackwardOutput`` and ``SampleResponse``.

Servers encode them when ``retrieve_future`` is asked for
``application/x-protobuf``; clients decode them. The decoder applies the
official SDK's reading rules: per-datum outputs from batched tensors with byte
offsets (several records concatenate), the output type label cut after its
last colon, NaN prompt logprobs as ``None``, top-k sentinel rows as ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tinkex import types as T

from . import tinker_public_pb2 as pb
from ._arrays import (
    FLOAT32,
    INT32,
    dtype_name,
    floats_nan_to_none,
    floats_with_nan,
    from_bytes,
    pack_batched,
    tensor_from_proto,
    tensor_to_proto,
    to_bytes,
    topk_from_proto,
    topk_to_proto,
    unpack_batched,
)
from .errors import ProtoDecodeError, parse_message

_STOP_REASONS = {"stop": pb.STOP_REASON_STOP, "length": pb.STOP_REASON_LENGTH}
_STOP_REASON_NAMES = {number: name for name, number in _STOP_REASONS.items()}
_DEFAULT_OUTPUT_TYPE = "ArrayRecord"


# ---- ForwardBackwardOutput --------------------------------------------------------------


def _output_layout(output: Mapping[str, T.TensorData]) -> tuple[tuple[str, str, tuple[int, ...]],
                                                                 ...]:
    """(name, dtype, trailing shape) per field: datums with equal layouts share a record."""
    return tuple(sorted((name, dtype_name(t), tuple((t.shape or [0])[1:]))
                        for name, t in output.items()))


def forward_backward_output_to_proto(output: T.ForwardBackwardOutput) -> pb.ForwardBackwardOutput:
    """One ArrayRecord per run of datums with the same field layout (usually exactly one).

    Every datum must have the same field names: the reader lines fields up by
    datum index across records.
    """
    message = pb.ForwardBackwardOutput(loss_fn_output_type=output.loss_fn_output_type,
                                       metrics=output.metrics)
    outputs = output.loss_fn_outputs
    names = {frozenset(o) for o in outputs}
    if len(names) > 1:
        raise ValueError("every datum's loss_fn_outputs must have the same field names "
                         f"to be sent as protobuf; found {sorted(map(sorted, names))}")
    start = 0
    while start < len(outputs):
        layout = _output_layout(outputs[start])
        end = start + 1
        while end < len(outputs) and _output_layout(outputs[end]) == layout:
            end += 1
        record = message.loss_fn_outputs.add(type_tag=output.loss_fn_output_type,
                                             num_datums=end - start)
        for name, dtype, trailing in layout:
            arrays = [outputs[i][name].to_numpy() for i in range(start, end)]
            pack_batched(arrays, dtype, trailing, record.fields[name])
        start = end
    return message


def forward_backward_output_from_proto(message: pb.ForwardBackwardOutput
                                       ) -> T.ForwardBackwardOutput:
    metrics = dict(message.metrics)
    if not message.loss_fn_outputs:
        return T.ForwardBackwardOutput(
            loss_fn_output_type=message.loss_fn_output_type or _DEFAULT_OUTPUT_TYPE,
            loss_fn_outputs=[], metrics=metrics)
    per_field: dict[str, list[tuple[np.ndarray, str]]] = {}
    for r, record in enumerate(message.loss_fn_outputs):
        for name, batched in record.fields.items():
            arrays, public = unpack_batched(batched, f"record {r} field {name!r}")
            per_field.setdefault(name, []).extend((a, public) for a in arrays)
    count = sum(record.num_datums for record in message.loss_fn_outputs)
    if count == 0 and per_field:  # writers older than num_datums
        count = len(next(iter(per_field.values())))
    for name, column in per_field.items():
        if len(column) != count:
            raise ProtoDecodeError(f"field {name!r} has {len(column)} datums, expected {count}")
    # Array-backed tensors (views into one buffer per field): no Python float per value,
    # and nothing to re-validate, since shapes and types are ours by construction.
    outputs = [{name: T.TensorData.from_numpy_view(column[i][0])
                for name, column in per_field.items()} for i in range(count)]
    return T.ForwardBackwardOutput(
        loss_fn_output_type=message.loss_fn_output_type.rsplit(":", 1)[-1],
        loss_fn_outputs=outputs, metrics=metrics)


def encode_forward_backward_output(output: T.ForwardBackwardOutput) -> bytes:
    return forward_backward_output_to_proto(output).SerializeToString()


def decode_forward_backward_output(data: bytes) -> T.ForwardBackwardOutput:
    return forward_backward_output_from_proto(
        parse_message(pb.ForwardBackwardOutput(), data, "ForwardBackwardOutput"))


# ---- SampleResponse ---------------------------------------------------------------------


def sample_response_to_proto(response: T.SampleResponse) -> pb.SampleResponse:
    message = pb.SampleResponse(prompt_cache_hit_tokens=response.prompt_cache_hit_tokens)
    for i, sequence in enumerate(response.sequences):
        out = message.sequences.add(
            stop_reason=_STOP_REASONS[str(getattr(sequence.stop_reason, "value",
                                                  sequence.stop_reason))],
            tokens=to_bytes(sequence.tokens, INT32, f"sequence {i} tokens"))
        if sequence.logprobs is not None:
            out.logprobs = to_bytes(sequence.logprobs, FLOAT32, f"sequence {i} logprobs")
        if sequence.topk_logprobs is not None:
            topk_to_proto(sequence.topk_logprobs, out.topk_sampled_logprobs)
    if response.prompt_logprobs is not None:
        message.prompt_logprobs = floats_with_nan(response.prompt_logprobs)
    if response.topk_prompt_logprobs is not None:
        topk_to_proto(response.topk_prompt_logprobs, message.topk_prompt_logprobs)
    if response.target_prompt_logprobs is not None:
        tensor_to_proto(response.target_prompt_logprobs, "target_prompt_logprobs",
                        out=message.target_prompt_logprobs)
    if response.prompt_alt_tokens is not None:
        tensor_to_proto(response.prompt_alt_tokens.tokens, "prompt_alt_tokens.tokens",
                        out=message.prompt_alt_tokens.tokens)
        tensor_to_proto(response.prompt_alt_tokens.logprobs, "prompt_alt_tokens.logprobs",
                        out=message.prompt_alt_tokens.logprobs)
    return message


def sample_response_from_proto(message: pb.SampleResponse) -> T.SampleResponse:
    sequences = []
    for i, sequence in enumerate(message.sequences):
        stop_reason = _STOP_REASON_NAMES.get(sequence.stop_reason)
        if stop_reason is None:
            raise ProtoDecodeError(f"sequence {i}: unknown stop_reason {sequence.stop_reason}")
        what = f"sequence {i}"
        topk = (topk_from_proto(sequence.topk_sampled_logprobs, what + " top-k")
                if sequence.HasField("topk_sampled_logprobs") else None)
        sequences.append(T.SampledSequence.model_construct(
            stop_reason=T.StopReason(stop_reason),
            tokens=from_bytes(sequence.tokens, INT32, what + " tokens").tolist(),
            logprobs=(from_bytes(sequence.logprobs, FLOAT32, what + " logprobs").tolist()
                      if sequence.logprobs else None),
            sequence_id=None, topk_logprobs=topk))
    alt = None
    if message.HasField("prompt_alt_tokens"):
        alt = T.PromptAltTokens(
            tokens=tensor_from_proto(message.prompt_alt_tokens.tokens, "prompt_alt_tokens"),
            logprobs=tensor_from_proto(message.prompt_alt_tokens.logprobs, "prompt_alt_tokens"))
    return T.SampleResponse.model_construct(
        sequences=sequences, type="sample",
        prompt_logprobs=(floats_nan_to_none(message.prompt_logprobs, "prompt_logprobs")
                         if message.prompt_logprobs else None),
        topk_prompt_logprobs=(topk_from_proto(message.topk_prompt_logprobs, "prompt top-k")
                              if message.HasField("topk_prompt_logprobs") else None),
        prompt_cache_hit_tokens=message.prompt_cache_hit_tokens,
        target_prompt_logprobs=(
            tensor_from_proto(message.target_prompt_logprobs, "target_prompt_logprobs")
            if message.HasField("target_prompt_logprobs") else None),
        prompt_alt_tokens=alt)


def encode_sample_response(response: T.SampleResponse) -> bytes:
    return sample_response_to_proto(response).SerializeToString()


def decode_sample_response(data: bytes) -> T.SampleResponse:
    return sample_response_from_proto(parse_message(pb.SampleResponse(), data, "SampleResponse"))
