"""The ``forward_backward`` request body: public types <-> ``tinker_public.ForwardBackwardRequest``.

Clients encode it (SDK >= 0.25 always, 0.19 - 0.24.1 when the client config
sets ``proto_write_fwdbwd``), servers decode it. Besides what the JSON body
carries, the protobuf form has ``forward_only`` (a forward pass sent to
``forward_backward``), string-valued loss config (``loss_fn_config_v2``) and
provenance spans, which have no JSON form and no pydantic type: they are the
small dataclasses below.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tinkex import types as T
from tinkex.core.errors import InvalidArgumentError

from . import tinker_public_pb2 as pb
from ._arrays import INT32, from_bytes, tensor_from_proto, tensor_to_proto, to_bytes
from ._datum_writer import DATA, datum_field, varint
from .compression import compress, decompress
from .errors import ProtoDecodeError, parse_message, validated


@dataclass(frozen=True)
class ProvenanceSpan:
    """A run of datum positions copied from a sampling prompt or a sampled sequence.

    Covers positions ``[offset, offset + length)`` of ``sequence_id``'s prompt
    (``kind="prompt"``) or sampled tokens (``kind="sampled"``); the runs of one
    field tile it in order.
    """

    kind: Literal["prompt", "sampled"]
    sequence_id: str
    offset: int
    length: int


@dataclass(frozen=True)
class DatumSpans:
    """The two span lists of one datum (sent as a pair or not at all)."""

    model_input: tuple[ProvenanceSpan, ...] = ()
    loss_fn_inputs: tuple[ProvenanceSpan, ...] = ()


def _spans_to_proto(spans: Sequence[ProvenanceSpan], out: Any) -> None:
    for span in spans:
        item = out.add()
        target = item.prompt_tokens if span.kind == "prompt" else item.sampled_tokens
        target.sequence_id, target.offset, target.length = (span.sequence_id, span.offset,
                                                            span.length)


def _spans_from_proto(items: Any) -> tuple[ProvenanceSpan, ...]:
    out = []
    for item in items:
        which = item.WhichOneof("span")
        if which is None:
            raise ProtoDecodeError("a provenance span has neither prompt_tokens nor "
                                   "sampled_tokens")
        span = getattr(item, which)
        out.append(ProvenanceSpan("prompt" if which == "prompt_tokens" else "sampled",
                                  span.sequence_id, span.offset, span.length))
    return tuple(out)


# ---- forward_backward request -----------------------------------------------------------


@dataclass(frozen=True)
class ForwardBackwardCall:
    """A decoded protobuf ``forward_backward`` body, in public types.

    ``input`` is what the JSON body would carry under ``forward_backward_input``;
    ``forward_only`` (a forward pass, request type ``Forward``) and ``spans``
    exist only in the protobuf form.
    """

    model_id: str
    seq_id: int | None
    input: T.ForwardBackwardInput
    forward_only: bool = False
    spans: tuple[DatumSpans | None, ...] | None = None


def _b64_bytes(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError(f"{what}: not valid base64") from None


def _chunk_to_proto(chunk: Any, out: pb.Chunk, what: str) -> None:
    if isinstance(chunk, T.EncodedTextChunk):
        out.encoded_text.tokens = to_bytes(chunk.tokens, INT32, what)
    elif isinstance(chunk, T.ImageChunk):
        out.image.data = _b64_bytes(chunk.data, what)
        out.image.format = str(getattr(chunk.format, "value", chunk.format))
        if chunk.expected_tokens is not None:
            out.image.expected_tokens = chunk.expected_tokens
    elif isinstance(chunk, T.DmelChunk):
        out.dmel.dmel = _b64_bytes(chunk.dmel, what)
    else:
        raise InvalidArgumentError(f"{what}: {getattr(chunk, 'type', type(chunk).__name__)} chunks have "
                         "no protobuf form (send the image inline as an image chunk)")


def _chunk_from_proto(chunk: pb.Chunk, what: str) -> Any:
    kind = chunk.WhichOneof("chunk")
    if kind == "encoded_text":
        return T.EncodedTextChunk(tokens=from_bytes(chunk.encoded_text.tokens, INT32,
                                                    what).tolist())
    if kind == "image":
        image = chunk.image
        expected = image.expected_tokens if image.HasField("expected_tokens") else None
        return validated(lambda: T.ImageChunk.model_validate({
            "data": base64.b64encode(image.data).decode("ascii"), "format": image.format,
            "expected_tokens": expected}), what)
    if kind == "dmel":
        return T.DmelChunk(dmel=base64.b64encode(chunk.dmel.dmel).decode("ascii"))
    raise ProtoDecodeError(f"{what}: empty chunk")


def _loss_config_to_proto(config: Mapping[str, float | str] | None,
                          out: pb.ForwardBackwardRequest) -> None:
    """Numbers go to both maps (older servers read only v1), strings to v2 only."""
    for key, value in (config or {}).items():
        if isinstance(value, str):
            out.loss_fn_config_v2[key].text = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.loss_fn_config[key] = float(value)
            out.loss_fn_config_v2[key].number = float(value)
        else:
            raise InvalidArgumentError(f"loss_fn_config[{key!r}]: only numbers and strings can be sent")


def _loss_config_from_proto(message: pb.ForwardBackwardRequest) -> dict[str, float | str] | None:
    """``loss_fn_config_v2`` when it has entries, else the numeric ``loss_fn_config``."""
    if message.loss_fn_config_v2:
        config: dict[str, float | str] = {}
        for key, value in message.loss_fn_config_v2.items():
            which = value.WhichOneof("value")
            if which is None:
                raise ProtoDecodeError(f"loss_fn_config_v2[{key!r}] has no value")
            config[key] = value.number if which == "number" else value.text
        return config
    return dict(message.loss_fn_config) or None


def forward_backward_request_to_proto(
        model_id: str, seq_id: int | None, fb_input: T.ForwardBackwardInput, *,
        forward_only: bool = False,
        spans: Sequence[DatumSpans | None] | None = None) -> pb.ForwardBackwardRequest:
    """The protobuf body of one forward_backward chunk (``seq_id`` None is sent as 0)."""
    if spans is not None and len(spans) != len(fb_input.data):
        raise InvalidArgumentError(f"spans has {len(spans)} entries for {len(fb_input.data)} datums")
    message = pb.ForwardBackwardRequest(model_id=model_id, seq_id=seq_id or 0,
                                        loss_fn=str(getattr(fb_input.loss_fn, "value",
                                                            fb_input.loss_fn)),
                                        forward_only=forward_only)
    _loss_config_to_proto(fb_input.loss_fn_config, message)
    for i, datum in enumerate(fb_input.data):
        _datum_to_proto(datum, i, spans[i] if spans is not None else _datum_spans(datum),
                        message.data.add())
    return message


def _datum_to_proto(datum: T.Datum, i: int, datum_spans: DatumSpans | None,
                    out: pb.Datum) -> None:
    for j, chunk in enumerate(datum.model_input.chunks):
        _chunk_to_proto(chunk, out.model_input.add(), f"datum {i} chunk {j}")
    for key, tensor in datum.loss_fn_inputs.items():
        tensor_to_proto(tensor, f"datum {i} loss_fn_inputs[{key!r}]",
                        out=out.loss_fn_inputs[key])
    if datum_spans is not None:
        _spans_to_proto(datum_spans.model_input, out.model_input_spans)
        _spans_to_proto(datum_spans.loss_fn_inputs, out.loss_fn_input_spans)


def serialize_forward_backward_request(
        model_id: str, seq_id: int | None, fb_input: T.ForwardBackwardInput, *,
        forward_only: bool = False,
        spans: Sequence[DatumSpans | None] | None = None) -> bytes:
    """The bytes of :func:`forward_backward_request_to_proto`'s message, written faster.

    The scalar fields and config go through the generated class; each datum
    is written by :mod:`._datum_writer` (or, when it has image chunks, sparse
    tensors or spans, serialized by the generated class), and the fields are
    joined once. Concatenated fields of one message are that message.
    """
    if spans is not None and len(spans) != len(fb_input.data):
        raise InvalidArgumentError(f"spans has {len(spans)} entries for {len(fb_input.data)} datums")
    head = forward_backward_request_to_proto(
        model_id, seq_id, fb_input.model_copy(update={"data": []}), forward_only=forward_only)
    pieces = [head.SerializeToString()]
    for i, datum in enumerate(fb_input.data):
        datum_spans = spans[i] if spans is not None else _datum_spans(datum)
        written = datum_field(datum, i) if datum_spans is None else None
        if written is None:
            message = pb.Datum()
            _datum_to_proto(datum, i, datum_spans, message)
            body = message.SerializeToString()
            pieces += [DATA, varint(len(body)), body]
        else:
            pieces += written[0]
    return b"".join(pieces)


def _datum_spans(datum: T.Datum) -> DatumSpans | None:
    """The provenance a datum carries (``Datum.with_provenance``), in the codec's form."""
    model_input = getattr(datum, "model_input_spans", None)
    loss_inputs = getattr(datum, "loss_fn_input_spans", None)
    if not model_input and not loss_inputs:
        return None

    def convert(items: Any) -> tuple[ProvenanceSpan, ...]:
        return tuple(ProvenanceSpan("prompt" if isinstance(s, T.PromptProvenanceSpan)
                                    else "sampled", s.sequence_id, s.offset, s.length)
                     for s in items or ())

    return DatumSpans(convert(model_input), convert(loss_inputs))


def forward_backward_request_from_proto(message: pb.ForwardBackwardRequest) -> ForwardBackwardCall:
    data = []
    spans: list[DatumSpans | None] = []
    for i, datum in enumerate(message.data):
        chunks = [_chunk_from_proto(c, f"datum {i} chunk {j}")
                  for j, c in enumerate(datum.model_input)]
        inputs = {key: tensor_from_proto(t, f"datum {i} loss_fn_inputs[{key!r}]")
                  for key, t in datum.loss_fn_inputs.items()}
        data.append(T.Datum(model_input=T.ModelInput(chunks=chunks), loss_fn_inputs=inputs))
        has_spans = bool(datum.model_input_spans) or bool(datum.loss_fn_input_spans)
        spans.append(DatumSpans(_spans_from_proto(datum.model_input_spans),
                                _spans_from_proto(datum.loss_fn_input_spans))
                     if has_spans else None)
    fb_input = validated(lambda: T.ForwardBackwardInput.model_validate({
        "data": data, "loss_fn": message.loss_fn,
        "loss_fn_config": _loss_config_from_proto(message)}), "forward_backward request")
    return ForwardBackwardCall(
        model_id=message.model_id, seq_id=message.seq_id or None, input=fb_input,
        forward_only=message.forward_only,
        spans=tuple(spans) if any(s is not None for s in spans) else None)


def encode_forward_backward_request(
        model_id: str, seq_id: int | None, fb_input: T.ForwardBackwardInput, *,
        forward_only: bool = False, spans: Sequence[DatumSpans | None] | None = None,
        compressed: bool = False) -> bytes:
    """Serialized body; with ``compressed`` it is a zstd frame (send ``Content-Encoding: zstd``)."""
    body = serialize_forward_backward_request(model_id, seq_id, fb_input,
                                              forward_only=forward_only, spans=spans)
    return compress(body) if compressed else body


def decode_forward_backward_request(body: bytes,
                                    content_encoding: str | None = None) -> ForwardBackwardCall:
    """Parse a body as received: decompressed first if ``Content-Encoding`` says zstd."""
    return forward_backward_request_from_proto(
        parse_message(pb.ForwardBackwardRequest(), decompress(body, content_encoding),
                      "forward_backward body"))
