"""Between wire types and the numpy model: model inputs, tensors, sampling results.

Everything a client controls is bounded here before numpy sees it (sequence
lengths, dense sizes of sparse tensors), so a hostile body fails as a user
error instead of exhausting memory.
"""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from tinkex import types as T
from tinkex.emulator.errors import UserError

from .model import IMAGE_PLACEHOLDER, SampleResult

MAX_TENSOR_ELEMENTS = 10_000_000


def tokens_of(model_input: T.ModelInput, max_len: int) -> list[int]:
    """Token ids with image chunks expanded to ``expected_tokens`` placeholder positions."""
    out: list[int] = []
    for i, chunk in enumerate(model_input.chunks):
        if isinstance(chunk, T.EncodedTextChunk):
            if any(t < 0 for t in chunk.tokens):
                raise UserError(f"chunk {i}: token ids must be >= 0")
            out.extend(chunk.tokens)
        elif isinstance(chunk, (T.ImageChunk, T.ImageAssetPointerChunk)):
            if isinstance(chunk, T.ImageChunk):
                try:
                    base64.b64decode(chunk.data, validate=True)
                except (binascii.Error, ValueError):
                    raise UserError(f"chunk {i}: image data is not valid base64") from None
            n = chunk.expected_tokens
            if n is None or n < 1:
                raise UserError(f"chunk {i}: an image chunk needs expected_tokens >= 1 "
                                "(the emulator gives each image that many positions)")
            if len(out) + n > max_len:
                raise UserError(f"model input is longer than the context window ({max_len})")
            out.extend([IMAGE_PLACEHOLDER] * n)
        else:
            raise UserError(f"chunk {i}: {chunk.type} chunks are not supported by the emulator")
        if len(out) > max_len:
            raise UserError(f"model input has {len(out)} tokens, more than the context "
                            f"window ({max_len})")
    return out


def array_of(tensor: T.TensorData, name: str) -> np.ndarray:
    """A dense numpy array; refuses shapes that would not fit in memory."""
    if tensor.shape is not None:
        if any(d < 0 for d in tensor.shape):
            raise UserError(f"{name}: negative dimension in shape {tensor.shape}")
        if math.prod(tensor.shape) > MAX_TENSOR_ELEMENTS:
            raise UserError(f"{name}: shape {tensor.shape} is too large")
    try:
        return tensor.to_numpy()
    except (ValueError, IndexError, OverflowError) as e:
        raise UserError(f"{name}: {e}") from None


def tensor(array: np.ndarray) -> T.TensorData:
    return T.TensorData.from_numpy(array)


def sample_response(result: SampleResult) -> T.SampleResponse:
    """The wire result of a sample; ``target_prompt_logprobs`` is laid out by the caller
    (:func:`target_logprobs_tensor`), since its layout is that of the request."""
    topk = None
    if result.topk_prompt_logprobs is not None:
        topk = [None if row is None else [(t, lp) for t, lp in row]
                for row in result.topk_prompt_logprobs]
    alt = None
    if result.prompt_alt_tokens is not None:
        alt_tokens, alt_logprobs = result.prompt_alt_tokens
        alt = T.PromptAltTokens(tokens=tensor(alt_tokens.astype(np.int64)),
                                logprobs=tensor(alt_logprobs.astype(np.float32)))
    return T.SampleResponse(
        sequences=[T.SampledSequence(stop_reason=T.StopReason(s.stop_reason), tokens=s.tokens,
                                     logprobs=s.logprobs,
                                     topk_logprobs=None if s.topk_logprobs is None
                                     else [row for row in s.topk_logprobs])
                   for s in result.sequences],
        prompt_logprobs=result.prompt_logprobs,
        topk_prompt_logprobs=topk,
        prompt_alt_tokens=alt)


def target_logprobs_tensor(request: T.TensorData, values: np.ndarray) -> T.TensorData:
    """float32 logprobs in the layout of the request's ``target_prompt_logprobs``: dense
    ``values`` of its shape, or the stored values of its CSR layout (same indices).

    Cells whose id was -1 hold ``0.0`` (the SDK's documented value; in a sparse answer
    that is only a stored -1, the unstored cells stay implicit)."""
    values = np.asarray(values, dtype=np.float32)
    if request.sparse_crow_indices is None:
        return tensor(values.reshape(request.shape or values.shape))
    return T.TensorData(data=values.reshape(-1).tolist(), dtype=T.TensorDtype.float32,
                        shape=list(request.shape or []),
                        sparse_crow_indices=list(request.sparse_crow_indices),
                        sparse_col_indices=list(request.sparse_col_indices or []))
