"""Hand-written helpers that generated models inherit (wired by ``base_classes`` in pyproject).

datamodel-code-generator makes ``class ModelInput(ModelInputMixin)``, so the
helpers live on the generated classes themselves and nested fields use the same
classes. This module must not import ``_generated`` (that module imports this
one); the package hands the generated module to :func:`use_generated`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from tinkex import console
from tinkex._lazy import LazyModule, is_ndarray, is_numpy_integer
from tinkex.console import ConsoleBase
from tinkex.core.errors import InvalidArgumentError
from tinkex.paths import TinkerPath

from ._base import WireModel
from ._views import ProvenanceMixin

if TYPE_CHECKING:
    import numpy as np

    from ._generated import ModelInput, TensorData
else:
    np = LazyModule("numpy")

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


_GENERATED: ModuleType | None = None


def use_generated(module: ModuleType) -> None:
    """Give the helpers the generated classes (the package calls this once it has imported them).

    The generated models are built on the mixins here, so this module cannot import
    theirs: the package hands it over instead.
    """
    global _GENERATED
    _GENERATED = module


def _generated() -> Any:
    if _GENERATED is None:  # only while tinkex.types itself is being imported
        raise RuntimeError("tinkex.types is not fully imported yet")
    return _GENERATED


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


class ModelInputMixin(WireModel):
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
        ints = [int(t) for t in (tokens.tolist() if is_ndarray(tokens) else tokens)]
        result: ModelInput = gen.ModelInput(chunks=[gen.EncodedTextChunk(tokens=ints)])
        return result

    @classmethod
    def empty(cls) -> ModelInput:
        """A model input with no chunks."""
        result: ModelInput = _generated().ModelInput(chunks=[])
        return result

    def to_ints(self) -> list[int]:
        """All token ids, in order; only defined when every chunk is text."""
        out: list[int] = []
        for chunk in self.chunks:  # type: ignore[attr-defined]
            tokens = getattr(chunk, "tokens", None)
            if tokens is None:
                raise InvalidArgumentError(f"to_ints() needs text chunks only; found a {chunk.type!r} chunk")
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
                raise InvalidArgumentError(f"the length of a {chunk.type!r} chunk is unknown: "
                                 "set expected_tokens")
            total += expected
        return total

    def append(self, chunk: Any) -> ModelInput:
        """A new model input with ``chunk`` added at the end."""
        result: ModelInput = _generated().ModelInput(chunks=[*self.chunks, chunk])  # type: ignore[attr-defined]
        return result

    def append_int(self, token: int) -> ModelInput:
        """A new model input with one more token (merged into a trailing text chunk)."""
        gen = _generated()
        chunks = list(self.chunks)  # type: ignore[attr-defined]
        if chunks and getattr(chunks[-1], "tokens", None) is not None:
            chunks[-1] = gen.EncodedTextChunk(tokens=[*chunks[-1].tokens, int(token)])
        else:
            chunks.append(gen.EncodedTextChunk(tokens=[int(token)]))
        result: ModelInput = gen.ModelInput(chunks=chunks)
        return result


_NUMPY_DTYPES = {"int64": "int64", "float32": "float32"}
"""Wire dtype -> numpy dtype (numpy takes the names)."""


def _wire_dtype(array: np.ndarray) -> str:
    """The public dtype a numpy array is sent as: floats float32, integers and booleans int64."""
    if array.dtype.kind in "biu":
        return "int64"
    if array.dtype.kind == "f":
        return "float32"
    raise TypeError(f"cannot send a numpy array of dtype {array.dtype} (numbers only)")


class TensorDataMixin(WireModel):
    """Conversions between the wire tensor (flat list + dtype + shape) and numpy.

    A tensor's values live in one of two places. Built from a list (or parsed
    from JSON) they are the ``data`` field, as in every pydantic model. Built
    from an array (:meth:`from_numpy`, :meth:`from_numpy_view`, a decoded
    protobuf result) they stay in that array, the private ``_array``, and
    ``data`` is not set: a logprobs tensor of 2048 tokens is then one 8 KB
    buffer instead of 2048 Python floats (~65 KB), and ``to_numpy()`` and the
    protobuf encoder use the buffer without copying. ``data`` is made from the
    array on first read (after which the list is the tensor's value, since the
    caller may change it in place, and the array is dropped); serialising
    (``model_dump``, ``model_dump_json``, request bodies) builds a temporary list
    and keeps none, so the JSON is exactly that of a list-backed tensor.
    Equality compares values, whichever form holds them; pickles carry the
    array.
    """

    _array: Any = PrivateAttr(default=None)  # np.ndarray | None (numpy is imported on use)

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> TensorData:
        """A tensor holding a copy of ``array``: floats become float32, integers and booleans int64.

        Later changes to ``array`` do not affect the tensor.
        """
        arr = np.asarray(array)
        dtype = _wire_dtype(arr)
        owned = np.array(arr, dtype=_NUMPY_DTYPES[dtype], order="C", copy=True)
        return cls._backed_by(owned, dtype, list(arr.shape))

    @classmethod
    def from_numpy_view(cls, array: np.ndarray) -> TensorData:
        """A tensor backed by ``array`` itself, without copying it when it is float32 or int64.

        The tensor is a view: writing into ``array`` changes the tensor (until
        its ``data`` list is first read). Other numeric dtypes are converted, which
        copies. Decoded protobuf results are built this way.
        """
        arr = np.asarray(array)
        dtype = _wire_dtype(arr)
        if arr.dtype != _NUMPY_DTYPES[dtype]:
            arr = arr.astype(_NUMPY_DTYPES[dtype])
        return cls._backed_by(arr, dtype, list(arr.shape))

    @classmethod
    def _backed_by(cls, array: np.ndarray, dtype: str, shape: list[int] | None,
                   sparse_crow_indices: list[int] | None = None,
                   sparse_col_indices: list[int] | None = None) -> TensorData:
        """An array-backed tensor; ``array`` must already have the numpy type of ``dtype``.

        ``model_construct`` skips validation (nothing to validate: the values are
        an array of the right type) and leaves ``data`` unset; it still counts as
        set, so ``exclude_unset`` dumps keep it.
        """
        gen = _generated()
        fields = {"data", "dtype", "shape"} if shape is not None else {"data", "dtype"}
        if sparse_crow_indices is not None or sparse_col_indices is not None:
            fields |= {"sparse_crow_indices", "sparse_col_indices"}
        tensor: TensorData = gen.TensorData.model_construct(
            _fields_set=fields, dtype=gen.TensorDtype(dtype), shape=shape,
            sparse_crow_indices=sparse_crow_indices, sparse_col_indices=sparse_col_indices)
        tensor.__pydantic_private__["_array"] = array  # type: ignore[index]
        return tensor

    @classmethod
    def from_list(cls, data: Sequence[Any], dtype: str | None = None) -> TensorData:
        """From a (possibly nested, rectangular) list; dtype inferred unless given."""
        arr = np.asarray(data)
        if dtype is not None:
            if dtype not in _NUMPY_DTYPES:
                raise InvalidArgumentError(f"dtype must be one of {sorted(_NUMPY_DTYPES)}, got {dtype!r}")
            arr = arr.astype(_NUMPY_DTYPES[dtype])
        return cls.from_numpy(arr)

    @classmethod
    def from_torch(cls, tensor: Any) -> TensorData:
        """From a torch tensor (bfloat16 is widened to float32)."""
        if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
            tensor = tensor.float()
        return cls.from_numpy(tensor.detach().cpu().numpy())

    @classmethod
    def from_torch_sparse(cls, tensor: Any, pad_value: int = 0) -> TensorData:
        """From a torch tensor, as sparse CSR when that is smaller (2-D tensors only).

        Entries equal to ``pad_value`` are left out; :meth:`to_numpy` puts them back.
        """
        if isinstance(pad_value, bool) or not (isinstance(pad_value, int) or is_numpy_integer(pad_value)):
            raise TypeError(f"pad_value must be an integer, not {pad_value!r}")
        if str(getattr(tensor, "dtype", "")) == "torch.bfloat16":
            tensor = tensor.float()
        dense = np.asarray(tensor.detach().cpu().numpy())
        if dense.ndim != 2:
            return cls.from_numpy(dense)
        rows, cols = np.nonzero(dense != pad_value)
        if (dense.shape[0] + 1) + 2 * len(rows) >= dense.size:
            return cls.from_numpy(dense)
        crow = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))])
        dtype = _wire_dtype(dense)
        values = dense[rows, cols].astype(_NUMPY_DTYPES[dtype])
        return cls._backed_by(values, dtype, list(dense.shape), [int(c) for c in crow],
                              [int(c) for c in cols])

    # ---- the backing array ------------------------------------------------------------

    def _backing(self) -> np.ndarray | None:
        """The array holding the values, or None when they are the ``data`` list.

        A ``data`` value in ``__dict__`` wins: it was read (materialised) or assigned.
        """
        private = self.__pydantic_private__ or {}  # None in pickles from before the field
        array = private.get("_array")
        return None if array is None or "data" in self.__dict__ else array

    if not TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:
            # Only reached when normal lookup fails, i.e. for ``data`` of an array-backed tensor.
            if name == "data":
                return self._materialise()
            return super().__getattr__(name)

    def _materialise(self) -> list[Any]:
        """Turn the backing array into the ``data`` list, which from now on holds the values."""
        array = self._backing()
        if array is None:  # another thread got here first, or there are no values at all
            if "data" in self.__dict__:
                return self.__dict__["data"]  # type: ignore[no-any-return]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'data'")
        values: list[Any] = array.reshape(-1).tolist()
        self.__dict__["data"] = values
        self.__pydantic_private__["_array"] = None  # type: ignore[index]
        return values

    # No return annotation on purpose: pydantic then keeps the model's own JSON schema.
    @model_serializer(mode="wrap")
    def _serialize_values(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        array = self._backing()
        if array is None:
            return handler(self)
        # Serialise a list-backed twin, so the dump is the usual one and no list is kept.
        twin = type(self).model_construct(_fields_set=set(self.model_fields_set),
                                          **{**self.__dict__, "data": array.reshape(-1).tolist()})
        return handler(twin)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        if type(self) is not type(other):
            return False
        mine = {k: v for k, v in self.__dict__.items() if k != "data"}
        theirs = {k: v for k, v in other.__dict__.items() if k != "data"}
        if mine != theirs or self.__pydantic_extra__ != other.__pydantic_extra__:
            return False
        a, b = flat_values(self), flat_values(other)  # type: ignore[arg-type]
        if isinstance(a, list) and isinstance(b, list):
            return a == b
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        array = self._backing()
        if array is not None:
            yield "data", array
        yield from super().__repr_args__()

    # ---- views ------------------------------------------------------------------------

    def to_numpy(self) -> np.ndarray:
        """A dense numpy array of the declared dtype and shape (sparse tensors are expanded).

        An array-backed tensor returns its array (reshaped to ``shape``, still
        without copying): writing into it changes the tensor. A list-backed one
        returns a new array.
        """
        dtype: Any = _NUMPY_DTYPES[str(getattr(self.dtype, "value", self.dtype))]  # type: ignore[attr-defined]
        values = self._backing()
        if values is None:
            values = np.asarray(self.data, dtype=dtype)  # type: ignore[attr-defined]
        shape = self.shape  # type: ignore[attr-defined]
        crow = getattr(self, "sparse_crow_indices", None)
        col = getattr(self, "sparse_col_indices", None)
        if crow is not None and col is not None:
            if not shape or len(shape) != 2:
                raise InvalidArgumentError("a sparse tensor needs a 2-D shape")
            dense = np.zeros(shape, dtype=dtype)
            crow_arr = np.asarray(crow, dtype=np.int64)
            rows = np.repeat(np.arange(len(crow_arr) - 1), np.diff(crow_arr))
            dense[rows, np.asarray(col, dtype=np.int64)] = values.reshape(-1)
            return dense
        if shape is None:
            return values if values.ndim == 1 else values.reshape(-1)
        return values if list(values.shape) == list(shape) else values.reshape(shape)

    def to_torch(self) -> Any:
        import torch

        return torch.from_numpy(self.to_numpy())

    def tolist(self) -> list[Any]:
        return self.to_numpy().tolist()  # type: ignore[no-any-return]


def flat_values(tensor: TensorData) -> np.ndarray | list[Any]:
    """A tensor's stored values, flat: its backing array (no copy) or its ``data`` list.

    For encoders and size estimates, which must not turn an array into a list.
    """
    array = tensor._backing()
    if array is not None:
        return array.reshape(-1)
    return tensor.__dict__.get("data", [])  # type: ignore[no-any-return]


def value_count(tensor: TensorData) -> int:
    """How many values a tensor stores (``len(data)``), without building ``data``."""
    array = tensor._backing()
    return int(array.size) if array is not None else len(tensor.__dict__.get("data", ()))


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


class DatumMixin(ProvenanceMixin):
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
        if isinstance(model_input, (list, tuple)) or is_ndarray(model_input):
            data["model_input"] = _generated().ModelInput.from_ints(model_input)
        return data


class SavedWeightsMixin(WireModel):
    """Console links of a saved checkpoint (``save_state``, ``save_weights_for_sampler``).

    The training client that saved it sets where its console lives; a result built
    any other way links to the hosted console.
    """

    _console: ConsoleBase = PrivateAttr(default_factory=ConsoleBase)

    def get_console_url(self) -> str:
        """The checkpoint's page in the console."""
        path = TinkerPath.parse(self.path)  # type: ignore[attr-defined]
        return console.checkpoint_url(path.training_run_id, path.checkpoint_id,
                                      self._console.url)

    def get_playground_url(self) -> str:
        """The console's playground, opened on these weights."""
        return console.playground_url(self.path, self._console.url)  # type: ignore[attr-defined]
