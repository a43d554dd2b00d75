"""Array payloads of the protobuf messages: dtypes, tensors, batched tensors, top-k matrices.

Every array on the wire is a raw little-endian buffer in a ``bytes`` field, so
all conversions go through ``np.frombuffer`` / ``tobytes`` with explicit
little-endian dtypes (``<i4`` ...): one C-level copy per array, no Python loop
per element, and correct on big-endian hosts too. The public types only know
``float32`` and ``int64``; narrower wire dtypes are widened on the way in.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np

from tinkex import types as T
from tinkex.core.errors import InvalidArgumentError
from tinkex.types._mixins import flat_values

from . import tinker_public_pb2 as pb
from .errors import ProtoDecodeError

#: Public dtype -> (wire enum, little-endian numpy dtype) used when encoding.
ENCODE_DTYPES: dict[str, tuple[int, np.dtype[Any]]] = {
    "float32": (pb.DTYPE_FLOAT32, np.dtype("<f4")),
    "int64": (pb.DTYPE_INT64, np.dtype("<i8")),
}

#: Wire enum -> (little-endian numpy dtype of the payload, public dtype after widening).
DECODE_DTYPES: dict[int, tuple[np.dtype[Any], str]] = {
    pb.DTYPE_FLOAT32: (np.dtype("<f4"), "float32"),
    pb.DTYPE_INT64: (np.dtype("<i8"), "int64"),
    pb.DTYPE_INT32: (np.dtype("<i4"), "int64"),
    pb.DTYPE_BFLOAT16: (np.dtype("<u2"), "float32"),
}

INT32 = np.dtype("<i4")
_STRUCT_CODES = {4: "i", 8: "q"}  # signed little-endian integers by width
INT64 = np.dtype("<i8")
FLOAT32 = np.dtype("<f4")

#: NumPy 2 raises OverflowError when a list holds an int that does not fit the target
#: dtype; 1.x wrapped it (with a DeprecationWarning).
_LIST_CONVERSION_CHECKS_RANGE = np.lib.NumpyVersion(np.__version__) >= "2.0.0"

#: Empty top-k cells hold this (token id, logprob) pair.
TOPK_SENTINEL_TOKEN = 0
TOPK_SENTINEL_LOGPROB = -99999.0


def dtype_name(tensor: T.TensorData) -> str:
    return str(getattr(tensor.dtype, "value", tensor.dtype))


def to_bytes(values: Any, dtype: np.dtype[Any], what: str) -> bytes:
    """A sequence or array as a raw little-endian buffer; out-of-range integers are refused.

    Lists (token ids) are converted in one typed pass: straight to ``dtype`` where
    NumPy refuses out-of-range Python ints itself, else via int64 and a range
    check. Arrays are range-checked only when their dtype may not fit (a cast
    would wrap silently).
    """
    if type(values) is list and dtype.kind == "i":
        # Token ids are Python ints: struct packs them about twice as fast as numpy
        # converts the list, and refuses out-of-range values itself.
        try:
            return struct.pack(f"<{len(values)}{_STRUCT_CODES[dtype.itemsize]}", *values)
        except struct.error as e:
            raise InvalidArgumentError(f"{what}: cannot encode as {dtype.name}: {e}") from None
    try:
        if isinstance(values, np.ndarray):
            array = values
        else:
            direct = dtype.kind != "i" or _LIST_CONVERSION_CHECKS_RANGE
            array = np.asarray(values, dtype=dtype if direct else INT64)
        if (dtype.kind == "i" and array.size and array.dtype.kind in "iu"
                and not np.can_cast(array.dtype, dtype, "safe")):
            info = np.iinfo(dtype)
            if array.min() < info.min or array.max() > info.max:
                raise OverflowError(f"values outside the {dtype.name} range")
        return np.ascontiguousarray(array, dtype=dtype).tobytes()
    except (OverflowError, ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{what}: cannot encode as {dtype.name}: {e}") from None


def writable(array: np.ndarray) -> np.ndarray:
    """``array``, copied when it is a read-only view of a received buffer.

    Decoded tensors hand their array out from ``to_numpy()`` without copying;
    users may write into it (and torch warns about read-only arrays), so it must
    be writable. One memcpy of the payload, no Python objects.
    """
    return array if array.flags.writeable else array.copy()


def from_bytes(data: bytes, dtype: np.dtype[Any], what: str) -> np.ndarray:
    """A read-only view of a little-endian buffer, in native byte order."""
    if len(data) % dtype.itemsize:
        raise ProtoDecodeError(f"{what}: {len(data)} bytes is not a whole number of "
                               f"{dtype.name} values")
    array = np.frombuffer(data, dtype=dtype)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def widen(array: np.ndarray, wire_dtype: int) -> np.ndarray:
    """Wire payload -> the public dtype: int32 -> int64, bfloat16 bits -> float32."""
    if wire_dtype == pb.DTYPE_BFLOAT16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    if wire_dtype == pb.DTYPE_INT32:
        return array.astype(np.int64)
    return array


def decode_dtype(wire_dtype: int, what: str) -> tuple[np.dtype[Any], str]:
    try:
        return DECODE_DTYPES[wire_dtype]
    except KeyError:
        raise ProtoDecodeError(f"{what}: unsupported dtype {wire_dtype}") from None


# -- Tensor <-> TensorData ------------------------------------------------------------


def tensor_to_proto(tensor: T.TensorData, what: str, out: pb.Tensor | None = None) -> pb.Tensor:
    """Dense values, or CSR values + int64 indices, in the declared dtype."""
    message = pb.Tensor() if out is None else out
    wire, dtype = ENCODE_DTYPES[dtype_name(tensor)]
    message.dtype = wire  # type: ignore[assignment]
    if tensor.shape is not None:
        message.shape.extend(tensor.shape)
    crow, col = tensor.sparse_crow_indices, tensor.sparse_col_indices
    if crow is not None or col is not None:
        if crow is None or col is None or tensor.shape is None:
            raise InvalidArgumentError(f"{what}: a sparse tensor needs both index lists and a shape")
        message.sparse_csr.values = to_bytes(flat_values(tensor), dtype, what)
        message.sparse_csr.crow_indices = to_bytes(crow, INT64, what)
        message.sparse_csr.col_indices = to_bytes(col, INT64, what)
    else:
        message.dense = to_bytes(flat_values(tensor), dtype, what)
    return message


def tensor_from_proto(message: pb.Tensor, what: str) -> T.TensorData:
    """The public tensor (widened dtype), backed by a numpy array; an empty shape reads as
    one-dimensional (``shape`` None)."""
    dtype, public = decode_dtype(message.dtype, what)
    shape = list(message.shape) or None
    if message.WhichOneof("encoding") == "sparse_csr":
        csr = message.sparse_csr
        values = writable(widen(from_bytes(csr.values, dtype, what), message.dtype))
        return T.TensorData._backed_by(
            values, public, shape,
            sparse_crow_indices=from_bytes(csr.crow_indices, INT64, what).tolist(),
            sparse_col_indices=from_bytes(csr.col_indices, INT64, what).tolist())
    values = writable(widen(from_bytes(message.dense, dtype, what), message.dtype))
    return T.TensorData._backed_by(values, public, shape)


# -- BatchedTensor: one flat array per datum --------------------------------------------


def pack_batched(arrays: Sequence[np.ndarray], dtype: str, trailing: Sequence[int],
                 out: pb.BatchedTensor) -> None:
    """Concatenate per-datum arrays; offsets are BYTE offsets into the data."""
    wire, np_dtype = ENCODE_DTYPES[dtype]
    flat = [np.ascontiguousarray(a, dtype=np_dtype).reshape(-1) for a in arrays]
    sizes = np.fromiter((a.size for a in flat), dtype=np.int64, count=len(flat))
    offsets = np.zeros(len(flat) + 1, dtype=INT64)
    np.cumsum(sizes * np_dtype.itemsize, out=offsets[1:])
    out.data = np.concatenate(flat).tobytes() if flat else b""
    out.offsets = offsets.tobytes()
    out.dtype = wire  # type: ignore[assignment]
    out.trailing_shape.extend(trailing)


def unpack_batched(message: pb.BatchedTensor, what: str) -> tuple[list[np.ndarray], str]:
    """Per-datum arrays (already shaped ``[n, *trailing_shape]``) and their public dtype.

    The arrays are writable views into one array per field: no per-datum copy.
    """
    dtype, public = decode_dtype(message.dtype, what)
    data = writable(widen(from_bytes(message.data, dtype, what), message.dtype))
    offsets = from_bytes(message.offsets, INT64, what + " offsets")
    if offsets.size == 0:
        return [], public
    if (offsets[0] != 0 or offsets[-1] != len(message.data) or np.any(np.diff(offsets) < 0)
            or np.any(offsets % dtype.itemsize)):
        raise ProtoDecodeError(f"{what}: offsets do not tile the {len(message.data)} data bytes")
    trailing = [int(d) for d in message.trailing_shape]
    per_row = math.prod(trailing)
    bounds = offsets // dtype.itemsize
    arrays = []
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        piece = data[start:end]
        if per_row == 0:
            if piece.size:
                raise ProtoDecodeError(f"{what}: values given for an empty trailing shape")
            arrays.append(piece.reshape([0, *trailing]))
        elif piece.size % per_row:
            raise ProtoDecodeError(f"{what}: {piece.size} values do not fill rows of "
                                   f"shape {trailing}")
        else:
            arrays.append(piece.reshape([piece.size // per_row, *trailing]))
    return arrays, public


# -- top-k matrices ---------------------------------------------------------------------


def topk_to_proto(rows: Sequence[Sequence[tuple[int, float]] | None], out: Any) -> None:
    """Pad rows to a (length, k) matrix with the sentinel; ``None`` rows are all sentinel.

    ``k`` is at least 1 whenever there are rows, so a list of ``None`` rows
    survives (k == 0 would read back as "absent").
    """
    length = len(rows)
    lengths = np.fromiter((0 if r is None else len(r) for r in rows), dtype=np.int64,
                          count=length)
    k = max(int(lengths.max()), 1) if length else 0
    token_ids = np.full((length, k), TOPK_SENTINEL_TOKEN, dtype=INT32)
    logprobs = np.full((length, k), TOPK_SENTINEL_LOGPROB, dtype=FLOAT32)
    total = int(lengths.sum())
    if total:
        pairs = np.asarray(list(chain.from_iterable(r for r in rows if r)),
                           dtype=np.float64).reshape(total, 2)
        row_index = np.repeat(np.arange(length), lengths)
        starts = np.cumsum(lengths) - lengths
        col_index = np.arange(total) - np.repeat(starts, lengths)
        token_ids[row_index, col_index] = pairs[:, 0]
        logprobs[row_index, col_index] = pairs[:, 1]
    out.token_ids = token_ids.tobytes()
    out.logprobs = logprobs.tobytes()
    out.k = k
    out.length = length


def topk_from_proto(message: pb.TopkLogprobs,
                    what: str) -> list[list[tuple[int, float]] | None] | None:
    """Rows of (token, logprob) pairs: a row starting with the sentinel is ``None`` and
    trailing sentinel cells are dropped; ``length == 0`` or ``k == 0`` means absent."""
    n, k = int(message.length), int(message.k)
    if n == 0 or k == 0:
        return None
    token_ids = from_bytes(message.token_ids, INT32, what + " token_ids")
    logprobs = from_bytes(message.logprobs, FLOAT32, what + " logprobs")
    if token_ids.size != n * k or logprobs.size != n * k:
        raise ProtoDecodeError(f"{what}: expected {n} x {k} cells")
    empty = ((token_ids == TOPK_SENTINEL_TOKEN) & (logprobs == TOPK_SENTINEL_LOGPROB)).reshape(n, k)
    # Row length = k minus the run of sentinel cells at its end.
    trailing_empty = np.cumprod(empty[:, ::-1], axis=1).sum(axis=1)
    keep = (k - trailing_empty).tolist()
    first_empty = empty[:, 0].tolist()
    pairs = list(zip(token_ids.tolist(), logprobs.tolist(), strict=True))
    return [None if first_empty[i] else pairs[i * k: i * k + keep[i]] for i in range(n)]


# -- float lists with holes ---------------------------------------------------------------


def floats_with_nan(values: Sequence[float | None]) -> bytes:
    """float32 buffer; ``None`` becomes NaN (how the wire marks "not computed")."""
    return np.asarray(values, dtype=FLOAT32).tobytes()  # numpy reads None as NaN


def floats_nan_to_none(data: bytes, what: str) -> list[float | None]:
    array = from_bytes(data, FLOAT32, what)
    out: list[float | None] = array.tolist()
    for i in np.flatnonzero(np.isnan(array)).tolist():
        out[i] = None
    return out
