"""Protobuf <-> public pydantic types, for the three protobuf payloads of the Tinker API.

* ``ForwardBackwardRequest``: the body of ``forward_backward`` (always protobuf
  from SDK 0.25; optionally zstd-compressed). Encoded by clients, decoded by
  servers (the emulator). See ``_request.py``.
* ``ForwardBackwardOutput`` and ``SampleResponse``: future results, returned
  by ``retrieve_future`` as protobuf when the poll's ``Accept`` asks for it.
  Encoded by servers, decoded by clients. See ``_results.py``.

Both directions are implemented for each, so the emulator and the client use
one codec and the tests can round-trip. Decoding follows the rules the
official SDK applies (reference 5.2): byte offsets in batched tensors, int32
and bfloat16 widened to int64 / float32, NaN prompt logprobs read as ``None``,
top-k sentinel rows read as ``None``, ``loss_fn_config_v2`` preferred over
``loss_fn_config``. Malformed payloads raise :class:`ProtoDecodeError` (a
``ValueError``); values the protobuf form cannot carry raise ``ValueError``
when encoding. This module is the public entry point: it re-exports the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from tinkex import types as T
from tinkex.types._mixins import value_count

from ._arrays import ENCODE_DTYPES, dtype_name
from ._request import (
    DatumSpans,
    ForwardBackwardCall,
    ProvenanceSpan,
    decode_forward_backward_request,
    encode_forward_backward_request,
    forward_backward_request_from_proto,
    forward_backward_request_to_proto,
)
from ._results import (
    decode_forward_backward_output,
    decode_sample_response,
    encode_forward_backward_output,
    encode_sample_response,
    forward_backward_output_from_proto,
    forward_backward_output_to_proto,
    sample_response_from_proto,
    sample_response_to_proto,
)
from .compression import ZSTD, compress, decompress
from .errors import ProtoDecodeError

__all__ = [
    "MEDIA_TYPE", "ZSTD", "PROTO_RESULT_TYPES", "REQUEST_DECODERS", "ProtoDecodeError", "ProvenanceSpan",
    "DatumSpans", "ForwardBackwardCall", "compress", "decompress",
    "encode_forward_backward_request", "decode_forward_backward_request",
    "forward_backward_request_to_proto", "forward_backward_request_from_proto",
    "encode_forward_backward_output", "decode_forward_backward_output",
    "forward_backward_output_to_proto", "forward_backward_output_from_proto",
    "encode_sample_response", "decode_sample_response",
    "sample_response_to_proto", "sample_response_from_proto",
    "encode_result", "decode_result", "estimate_datum_bytes",
]

#: Content type of every protobuf body (request and result).
MEDIA_TYPE = "application/x-protobuf"

#: Future result types that have a protobuf form (the document says which results travel so).
PROTO_RESULT_TYPES: tuple[type[BaseModel], ...] = (T.ForwardBackwardOutput, T.SampleResponse)

#: Request messages of ``tinker_public.proto`` a server decodes, by message name: (body bytes,
#: Content-Encoding) -> the decoded call. The document names each operation's message.
REQUEST_DECODERS: dict[str, Callable[[bytes, str | None], Any]] = {
    "ForwardBackwardRequest": decode_forward_backward_request,
}

R = TypeVar("R", bound=BaseModel)


def encode_result(result: BaseModel) -> bytes:
    """The protobuf body of a future result; only :data:`PROTO_RESULT_TYPES` have one."""
    if isinstance(result, T.ForwardBackwardOutput):
        return encode_forward_backward_output(result)
    if isinstance(result, T.SampleResponse):
        return encode_sample_response(result)
    raise TypeError(f"{type(result).__name__} has no protobuf form")


def decode_result(data: bytes, result_type: type[R]) -> R:
    """Decode a protobuf ``retrieve_future`` answer as the expected result type."""
    if issubclass(result_type, T.ForwardBackwardOutput):
        return cast(R, decode_forward_backward_output(data))
    if issubclass(result_type, T.SampleResponse):
        return cast(R, decode_sample_response(data))
    raise TypeError(f"{result_type.__name__} has no protobuf form")


# ---- size estimate ------------------------------------------------------------------------

_TOKEN_BYTES = 4  # tokens travel as int32
_INDEX_BYTES = 8  # CSR indices travel as int64


def _b64_length(text: str) -> int:
    """Decoded size of a base64 string, without decoding it."""
    return len(text) * 3 // 4 - text[-2:].count("=")


def estimate_datum_bytes(datum: T.Datum) -> int:
    """Estimated protobuf size of a datum, as SDK >= 0.25 compute it for chunking.

    4 bytes per text token, the raw size of image / dmel payloads (the length
    of an image pointer's location), and per loss input the payload in its
    dtype plus 8 bytes per CSR index. Used to split a batch into requests of
    at most ``fwdbwd_max_chunk_bytes_count`` and for dispatch flow control.
    """
    total = 0
    for chunk in datum.model_input.chunks:
        if isinstance(chunk, T.EncodedTextChunk):
            total += _TOKEN_BYTES * len(chunk.tokens)
        elif isinstance(chunk, T.ImageChunk):
            total += _b64_length(chunk.data)
        elif isinstance(chunk, T.DmelChunk):
            total += _b64_length(chunk.dmel)
        elif isinstance(chunk, T.ImageAssetPointerChunk):
            total += len(chunk.location)
    for tensor in datum.loss_fn_inputs.values():
        total += value_count(tensor) * ENCODE_DTYPES[dtype_name(tensor)][1].itemsize
        total += _INDEX_BYTES * (len(tensor.sparse_crow_indices or ())
                                 + len(tensor.sparse_col_indices or ()))
    return total
