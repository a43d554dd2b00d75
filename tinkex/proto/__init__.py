"""The protobuf half of the Tinker wire format.

``tinker_public_pb2`` is generated from ``spec/tinker_public.proto`` by
``make regen`` (do not edit it); :mod:`tinkex.proto.codec` converts its
messages to and from the public pydantic types in :mod:`tinkex.types`, and is
shared by the emulator (server side) and the client.
"""

from . import tinker_public_pb2 as pb
from .codec import (
    MEDIA_TYPE,
    PROTO_RESULT_TYPES,
    ZSTD,
    DatumSpans,
    ForwardBackwardCall,
    ProtoDecodeError,
    ProvenanceSpan,
    decode_forward_backward_output,
    decode_forward_backward_request,
    decode_result,
    decode_sample_response,
    encode_forward_backward_output,
    encode_forward_backward_request,
    encode_result,
    encode_sample_response,
    estimate_datum_bytes,
)

__all__ = [
    "pb", "MEDIA_TYPE", "PROTO_RESULT_TYPES", "ZSTD", "DatumSpans", "ForwardBackwardCall",
    "ProtoDecodeError", "ProvenanceSpan", "decode_forward_backward_output",
    "decode_forward_backward_request", "decode_result", "decode_sample_response",
    "encode_forward_backward_output", "encode_forward_backward_request", "encode_result",
    "encode_sample_response", "estimate_datum_bytes",
]
