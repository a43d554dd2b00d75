"""More hand-written helpers of generated models (wired by ``base_classes`` in pyproject).

Numpy views of sampling results (``tokens_np``, ``prompt_logprobs_np``, ...),
chunk lengths, console links of saved checkpoints, and a datum's provenance
spans (plain frozen dataclasses, as in SDK 0.38; they travel only in the
protobuf ``forward_backward`` body). Like ``_mixins``, this module imports
nothing of ``_generated``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import Field, field_validator

from tinkex._lazy import LazyModule
from tinkex.core.errors import InvalidArgumentError

from ._base import WireModel

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")

MASK_LOGPROB = -99999.0
"""The logprob of an empty top-k slot in :class:`TopkLogprobs` (its token id is 0)."""


class TopkLogprobs(NamedTuple):
    """Top-k tokens per position as two ``(positions, k)`` matrices; empty slots are (0, -99999)."""

    token_ids: np.ndarray
    logprobs: np.ndarray


def topk_matrices(rows: Any) -> TopkLogprobs | None:
    """``[[(token, logprob), ...] | None, ...]`` as dense matrices (None when not requested)."""
    if rows is None:
        return None
    k = max((len(r) for r in rows if r), default=0)
    ids = np.zeros((len(rows), k), dtype=np.int32)
    logprobs = np.full((len(rows), k), MASK_LOGPROB, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, pair in enumerate(row or ()):
            ids[i, j], logprobs[i, j] = pair[0], pair[1]
    return TopkLogprobs(ids, logprobs)


class SampledSequenceMixin(WireModel):
    """Numpy views of one sampled sequence (new arrays; the lists stay the values)."""

    @property
    def tokens_np(self) -> np.ndarray:
        """The sampled token ids, int32, shape ``(tokens,)``."""
        return np.asarray(self.tokens, dtype=np.int32)  # type: ignore[attr-defined]

    @property
    def logprobs_np(self) -> np.ndarray | None:
        """Their logprobs, float32 (None when not returned)."""
        values = self.logprobs  # type: ignore[attr-defined]
        return None if values is None else np.asarray(values, dtype=np.float32)

    @property
    def topk_logprobs_np(self) -> TopkLogprobs | None:
        """The top-k tokens at each sampled position (None when not requested)."""
        return topk_matrices(self.topk_logprobs)  # type: ignore[attr-defined]


class SampleResponseMixin(WireModel):
    """Numpy views of a sample's prompt scores."""

    @property
    def prompt_logprobs_np(self) -> np.ndarray | None:
        """Prompt logprobs, float32, NaN where not computed (None when not requested)."""
        values = self.prompt_logprobs  # type: ignore[attr-defined]
        if values is None:
            return None
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float32)

    @property
    def topk_prompt_logprobs_np(self) -> TopkLogprobs | None:
        """The top-k tokens at each prompt position (None when not requested)."""
        return topk_matrices(self.topk_prompt_logprobs)  # type: ignore[attr-defined]


class TokensChunkMixin(WireModel):
    @property
    def length(self) -> int:
        """Token positions of the chunk."""
        return len(self.tokens)  # type: ignore[attr-defined]


class ExpectedTokensChunkMixin(WireModel):
    @property
    def length(self) -> int:
        """Token positions of the chunk (its ``expected_tokens``, which must be set)."""
        expected = self.expected_tokens  # type: ignore[attr-defined]
        if expected is None:
            raise InvalidArgumentError(f"the length of a {type(self).__name__} is unknown: "
                             "set expected_tokens")
        return int(expected)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise InvalidArgumentError("the dmel header ends inside a number")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


class DmelChunkMixin(WireModel):
    @property
    def length(self) -> int:
        """Token positions of the chunk: the first dimension in the ``dmel`` header."""
        try:
            data = base64.b64decode(self.dmel, validate=True)  # type: ignore[attr-defined]
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgumentError(f"dmel is not base64: {exc}") from None
        at = 1 if data[:1] == b"\xfe" else 0  # optional marker, then one dtype byte
        ndim, at = _varint(data, at + 1)
        if ndim < 1:
            raise InvalidArgumentError("a dmel tensor needs at least one dimension")
        first, _ = _varint(data, at)
        return first


class ProvenanceMixin(WireModel):
    """Where a datum's tokens came from (sampling prompts or sampled sequences).

    Not part of the JSON body; the protobuf ``forward_backward`` body carries
    them (``stable_reinforce`` uses them).
    """

    model_input_spans: list[Any] | None = Field(default=None, exclude=True)
    """Runs (``PromptProvenanceSpan`` / ``SampledProvenanceSpan``) tiling ``model_input``."""
    loss_fn_input_spans: list[Any] | None = Field(default=None, exclude=True)
    """Runs tiling ``loss_fn_inputs["target_tokens"]``."""

    @field_validator("model_input_spans", "loss_fn_input_spans")
    @classmethod
    def _spans(cls, spans: list[Any] | None) -> list[Any] | None:
        for span in spans or ():
            if not isinstance(span, (PromptProvenanceSpan, SampledProvenanceSpan)):
                raise TypeError(f"provenance spans must be PromptProvenanceSpan or "
                                f"SampledProvenanceSpan, not {type(span).__name__}")
        return spans

    def with_provenance(self, model_input: list[Any], loss_fn_inputs: list[Any]) -> Any:
        """A copy carrying both span lists; each must tile its field exactly."""
        _check_tiling("model_input", model_input, self.model_input.length)  # type: ignore[attr-defined]
        targets = self.loss_fn_inputs.get("target_tokens")  # type: ignore[attr-defined]
        if targets is not None and targets.shape is not None and len(targets.shape) == 1:
            _check_tiling("loss_fn_inputs", loss_fn_inputs, targets.shape[0])
        return self.model_copy(update={"model_input_spans": list(model_input),
                                       "loss_fn_input_spans": list(loss_fn_inputs)})


def _check_tiling(name: str, spans: Any, expected: int) -> None:
    total = sum(span.length for span in spans)
    if total != expected:
        raise InvalidArgumentError(f"with_provenance: the {name} spans cover {total} positions but the "
                         f"field has {expected}; the runs must tile it exactly")


class OptimStepRequestMixin(WireModel):
    @property
    def optim_params(self) -> Any:
        """The step's parameters, whichever optimizer they are for (Dimuon or Adam)."""
        return self.optimizer_params or self.adam_params  # type: ignore[attr-defined]


def _check_span(kind: str, sequence_id: str, offset: int, length: int) -> None:
    if length < 0:
        raise InvalidArgumentError(f"{kind}.length must be 0 or more, not {length}")
    if offset < 0:
        raise InvalidArgumentError(f"{kind}.offset must be 0 or more, not {offset}")
    if not sequence_id:
        raise InvalidArgumentError(f"{kind}.sequence_id must not be empty")


@dataclass(frozen=True, kw_only=True)
class PromptProvenanceSpan:
    """Datum positions copied from positions ``[offset, offset + length)`` of a request's prompt.

    ``sequence_id`` is a :attr:`SampledSequence.sequence_id` of that request.
    """

    sequence_id: str
    offset: int = 0
    length: int

    def __post_init__(self) -> None:
        _check_span(type(self).__name__, self.sequence_id, self.offset, self.length)


@dataclass(frozen=True, kw_only=True)
class SampledProvenanceSpan:
    """Datum positions copied from sampled tokens ``[offset, offset + length)`` of a sequence."""

    sequence_id: str
    offset: int = 0
    length: int

    def __post_init__(self) -> None:
        _check_span(type(self).__name__, self.sequence_id, self.offset, self.length)
