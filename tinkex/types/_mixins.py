"""Hand-written helpers that generated models inherit (wired by ``base_classes`` in pyproject).

datamodel-code-generator makes ``class ModelInput(ModelInputMixin)``, so the
helpers live on the generated classes themselves and nested fields use the same
classes. This module must not import ``_generated`` at import time (that module
imports this one); helpers import it lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, model_validator

if TYPE_CHECKING:
    from ._generated import ModelInput, TensorData

# Loss-input key -> wire dtype, for inputs given as plain lists or arrays.
LOSS_INPUT_DTYPES: dict[str, str] = {
    "target_tokens": "int64",
    "weights": "float32",
    "advantages": "float32",
    "logprobs": "float32",
    "clip_low_threshold": "float32",
    "clip_high_threshold": "float32",
    "sequence_ratio_mask": "float32",
}


def _generated() -> Any:
    from . import _generated

    return _generated


# SDKs 0.3 - 0.16 omit the chunk ``type``; the kind follows from the keys present.
_CHUNK_KINDS = (
    ("tokens", "encoded_text"),
    ("dmel", "dmel"),
    ("location", "image_asset_pointer"),
    ("data", "image"),
)


def infer_chunk_type(chunk: Any) -> Any:
    """Fill in a missing ``type`` of a chunk given as a mapping; leave anything else alone."""
    if isinstance(chunk, Mapping) and "type" not in chunk:
        for key, kind in _CHUNK_KINDS:
            if key in chunk:
                return {**chunk, "type": kind}
    return chunk


class ModelInputMixin(BaseModel):
    """Constructors and views of a model input (an ordered list of chunks)."""

    @model_validator(mode="before")
    @classmethod
    def _infer_chunk_types(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("chunks"), list):
            return {**data, "chunks": [infer_chunk_type(c) for c in data["chunks"]]}
        return data

    @classmethod
    def from_ints(cls, tokens: Sequence[int] | np.ndarray) -> ModelInput:
        """A model input of one text chunk holding ``tokens``."""
        gen = _generated()
        ints = [int(t) for t in (tokens.tolist() if isinstance(tokens, np.ndarray) else tokens)]
        return gen.ModelInput(chunks=[gen.EncodedTextChunk(tokens=ints)])

    @classmethod
    def empty(cls) -> ModelInput:
        """A model input with no chunks."""
        return _generated().ModelInput(chunks=[])

    def to_ints(self) -> list[int]:
        """All token ids, in order; only defined when every chunk is text."""
        out: list[int] = []
        for chunk in self.chunks:  # type: ignore[attr-defined]
            tokens = getattr(chunk, "tokens", None)
            if tokens is None:
                raise ValueError(f"to_ints() needs text chunks only; found a {chunk.type!r} chunk")
            out.extend(tokens)
        return out

    @property
    def length(self) -> int:
        """Number of token positions (images count their ``expected_tokens``)."""
        total = 0
        for chunk in self.chunks:  # type: ignore[attr-defined]
            tokens = getattr(chunk, "tokens", None)
            if tokens is not None:
                total += len(tokens)
                continue
            expected = getattr(chunk, "expected_tokens", None)
            if expected is None:
                raise ValueError(f"the length of a {chunk.type!r} chunk is unknown: "
                                 "set expected_tokens")
            total += expected
        return total

    def append(self, chunk: Any) -> ModelInput:
        """A new model input with ``chunk`` added at the end."""
        return _generated().ModelInput(chunks=[*self.chunks, chunk])  # type: ignore[attr-defined]

    def append_int(self, token: int) -> ModelInput:
        """A new model input with one more token (merged into a trailing text chunk)."""
        gen = _generated()
        chunks = list(self.chunks)  # type: ignore[attr-defined]
        if chunks and getattr(chunks[-1], "tokens", None) is not None:
            chunks[-1] = gen.EncodedTextChunk(tokens=[*chunks[-1].tokens, int(token)])
        else:
            chunks.append(gen.EncodedTextChunk(tokens=[int(token)]))
        return gen.ModelInput(chunks=chunks)


_NUMPY_DTYPES = {"int64": np.int64, "float32": np.float32}


class TensorDataMixin(BaseModel):
    """Conversions between the wire tensor (flat list + dtype + shape) and numpy."""

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> TensorData:
        """Floats become float32, integers and booleans int64."""
        arr = np.asarray(array)
        if arr.dtype.kind in "biu":
            dtype = "int64"
        elif arr.dtype.kind == "f":
            dtype = "float32"
        else:
            raise TypeError(f"cannot send a numpy array of dtype {arr.dtype} (numbers only)")
        flat = arr.astype(_NUMPY_DTYPES[dtype]).reshape(-1)
        return _generated().TensorData(data=flat.tolist(), dtype=dtype, shape=list(arr.shape))

    @classmethod
    def from_list(cls, data: Sequence[Any], dtype: str | None = None) -> TensorData:
        """From a (possibly nested, rectangular) list; dtype inferred unless given."""
        arr = np.asarray(data)
        if dtype is not None:
            if dtype not in _NUMPY_DTYPES:
                raise ValueError(f"dtype must be one of {sorted(_NUMPY_DTYPES)}, got {dtype!r}")
            arr = arr.astype(_NUMPY_DTYPES[dtype])
        return cls.from_numpy(arr)

    @classmethod
    def from_torch(cls, tensor: Any) -> TensorData:
        """From a torch tensor (bfloat16 is widened to float32)."""
        if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
            tensor = tensor.float()
        return cls.from_numpy(tensor.detach().cpu().numpy())

    def to_numpy(self) -> np.ndarray:
        """A dense numpy array of the declared dtype and shape (sparse tensors are expanded)."""
        dtype: Any = _NUMPY_DTYPES[str(getattr(self.dtype, "value", self.dtype))]  # type: ignore[attr-defined]
        values = np.asarray(self.data, dtype=dtype)  # type: ignore[attr-defined]
        shape = self.shape  # type: ignore[attr-defined]
        crow = getattr(self, "sparse_crow_indices", None)
        col = getattr(self, "sparse_col_indices", None)
        if crow is not None and col is not None:
            if not shape or len(shape) != 2:
                raise ValueError("a sparse tensor needs a 2-D shape")
            dense = np.zeros(shape, dtype=dtype)
            crow_arr = np.asarray(crow, dtype=np.int64)
            rows = np.repeat(np.arange(len(crow_arr) - 1), np.diff(crow_arr))
            dense[rows, np.asarray(col, dtype=np.int64)] = values
            return dense
        return values.reshape(shape) if shape is not None else values

    def to_torch(self) -> Any:
        import torch

        return torch.from_numpy(self.to_numpy())

    def tolist(self) -> list[Any]:
        return self.to_numpy().tolist()  # type: ignore[no-any-return]


def _coerce_tensor(key: str, value: Any) -> Any:
    """Turn a list / numpy array / torch tensor into a TensorData of the key's dtype."""
    if isinstance(value, (BaseModel, Mapping)):
        return value
    gen = _generated()
    dtype = LOSS_INPUT_DTYPES.get(key)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch tensor
        value = value.detach().cpu()
        value = value.float().numpy() if str(value.dtype) == "torch.bfloat16" else value.numpy()
    arr = np.asarray(value)
    if dtype is not None:
        arr = arr.astype(_NUMPY_DTYPES[dtype])
    return gen.TensorData.from_numpy(arr)


class DatumMixin(BaseModel):
    """A Datum accepts plain lists or arrays for its loss inputs and model input."""

    @model_validator(mode="before")
    @classmethod
    def _coerce_inputs(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        inputs = data.get("loss_fn_inputs")
        if isinstance(inputs, Mapping):
            data["loss_fn_inputs"] = {k: _coerce_tensor(k, v) for k, v in inputs.items()}
        model_input = data.get("model_input")
        if isinstance(model_input, (list, tuple, np.ndarray)):
            data["model_input"] = _generated().ModelInput.from_ints(model_input)
        return data
