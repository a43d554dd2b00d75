"""The datums of a ``forward_backward`` body written straight to protobuf bytes.

A 256 x 2048 request holds a few thousand length-delimited fields around
megabytes of arrays. Built as upb messages, every array is copied into the
message arena and copied again by ``SerializeToString``, and the map entries
of ``loss_fn_inputs`` cost more than the copying. The common datum — token
chunks and dense tensors, no provenance spans — is written here instead, as a
list of pieces joined once (each array is copied once, by the join). Any other
datum returns None and goes through the generated classes; the bytes mean the
same to any protobuf parser (the tests decode both forms and compare).

Field numbers and wire types come from the generated descriptors, not from here.
"""

from __future__ import annotations

from typing import Any

from tinkex import types as T
from tinkex.types._mixins import flat_values

from . import tinker_public_pb2 as pb
from ._arrays import ENCODE_DTYPES, INT32, dtype_name, to_bytes

_VARINT, _LEN = 0, 2  # protobuf wire types


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint."""
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((n,)) for n in range(0x80)]


def _tag(descriptor: Any, field: str, wire_type: int) -> bytes:
    return varint(descriptor.fields_by_name[field].number << 3 | wire_type)


_ENTRY = pb.Datum.DESCRIPTOR.fields_by_name["loss_fn_inputs"].message_type
DATA = _tag(pb.ForwardBackwardRequest.DESCRIPTOR, "data", _LEN)
_MODEL_INPUT = _tag(pb.Datum.DESCRIPTOR, "model_input", _LEN)
_LOSS_INPUT = _tag(pb.Datum.DESCRIPTOR, "loss_fn_inputs", _LEN)
_KEY = _tag(_ENTRY, "key", _LEN)
_VALUE = _tag(_ENTRY, "value", _LEN)
_ENCODED_TEXT = _tag(pb.Chunk.DESCRIPTOR, "encoded_text", _LEN)
_TOKENS = _tag(pb.EncodedTextChunk.DESCRIPTOR, "tokens", _LEN)
_DENSE = _tag(pb.Tensor.DESCRIPTOR, "dense", _LEN)
_DTYPE = _tag(pb.Tensor.DESCRIPTOR, "dtype", _VARINT)
_SHAPE = _tag(pb.Tensor.DESCRIPTOR, "shape", _LEN)  # packed (proto3 repeated scalars)


def _field(pieces: list[bytes], tag: bytes, payload: list[bytes], size: int) -> int:
    """Append a length-delimited field of ``size`` payload bytes; return the bytes it adds."""
    length = varint(size)
    pieces.append(tag)
    pieces.append(length)
    pieces.extend(payload)
    return len(tag) + len(length) + size


def _tensor(tensor: T.TensorData, what: str) -> tuple[list[bytes], int] | None:
    """A dense tensor's message pieces and size; None for a sparse one."""
    if tensor.sparse_crow_indices is not None or tensor.sparse_col_indices is not None:
        return None
    wire, dtype = ENCODE_DTYPES[dtype_name(tensor)]
    values = to_bytes(flat_values(tensor), dtype, what)
    pieces: list[bytes] = []
    size = _field(pieces, _DENSE, [values], len(values))  # a oneof member: written even if empty
    if wire:
        code = varint(wire)
        pieces += [_DTYPE, code]
        size += len(_DTYPE) + len(code)
    if tensor.shape:
        dims = b"".join(varint(d) for d in tensor.shape)
        size += _field(pieces, _SHAPE, [dims], len(dims))
    return pieces, size


def datum_field(datum: T.Datum, index: int) -> tuple[list[bytes], int] | None:
    """The pieces of one ``data`` field (tag, length, the datum) and their size, or None
    when the datum needs the generated classes."""
    body: list[bytes] = []
    size = 0
    for j, chunk in enumerate(datum.model_input.chunks):
        if not isinstance(chunk, T.EncodedTextChunk):
            return None
        tokens = to_bytes(chunk.tokens, INT32, f"datum {index} chunk {j}")
        text: list[bytes] = []
        text_size = _field(text, _TOKENS, [tokens], len(tokens)) if tokens else 0
        chunk_pieces: list[bytes] = []
        chunk_size = _field(chunk_pieces, _ENCODED_TEXT, text, text_size)
        size += _field(body, _MODEL_INPUT, chunk_pieces, chunk_size)
    for key, tensor in datum.loss_fn_inputs.items():
        encoded = _tensor(tensor, f"datum {index} loss_fn_inputs[{key!r}]")
        if encoded is None:
            return None
        name = key.encode()
        entry: list[bytes] = []
        entry_size = _field(entry, _KEY, [name], len(name))
        entry_size += _field(entry, _VALUE, *encoded)
        size += _field(body, _LOSS_INPUT, entry, entry_size)
    pieces: list[bytes] = []
    return pieces, _field(pieces, DATA, body, size)
