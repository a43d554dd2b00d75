"""Sampling sessions, asample and sampler lookup.

A sampler is frozen weights: the base model's, a saved sampler checkpoint's, or
a snapshot taken by an ephemeral save_weights_for_sampler. Samples run on the
shared pool in any order (no seq_id ordering), deduped by
``(sampling_session_id, seq_id)`` so a resent request does not sample twice.
Copies of a sampling client in other processes join the session to get a
block of seq_ids of their own (``client_counter``, never issued twice).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.responses import StreamingResponse

from tinkex import types as T
from tinkex.emulator.compute import convert
from tinkex.emulator.compute.model import SampleResult, get_config, sample
from tinkex.emulator.compute.model.stream import StreamedToken, check_params
from tinkex.emulator.compute.model.stream import sample_stream as model_stream
from tinkex.emulator.errors import HTTPProblem, UserError, not_found
from tinkex.emulator.state.store import Sampler
from tinkex.tokenizers import ByteTokenizer

from ..services import Services
from .registry import Call, handles

MAX_SAMPLES = 256
#: Bound on ``(len(prompt) - 1) * k`` for prompt_alt_tokens_k and on the (dense or
#: compacted sparse) cells of target_prompt_logprobs, as the real service bounds a top-k
#: width. Past it the request is refused (400).
MAX_PROMPT_CELLS = 1_000_000
_BYTES = ByteTokenizer()  # every emulator model speaks bytes (ids 0-255)


@handles("create_sampling_session")
def create_sampling_session(s: Services, call: Call) -> T.CreateSamplingSessionResponse:
    body: T.CreateSamplingSessionRequest = call.body
    s.session(call.owner, body.session_id)
    sampler_id = f"{body.session_id}:sample:{body.sampling_session_seq_id}"
    source_run_id = None
    if body.model_path is not None:
        checkpoint = s.checkpoint_at(call.owner, body.model_path)
        source = s.store.run(checkpoint.run_id)
        assert source is not None
        base_model, weights_key = source.base_model, checkpoint.storage_key
        s.audit_checkpoint(call.owner, "checkpoint_read", checkpoint, purpose="sampling")
        source_run_id = source.run_id
    elif body.base_model is not None:
        s.catalog.preset(body.base_model)
        base_model, weights_key = body.base_model, None
    else:
        raise HTTPProblem(400, "create_sampling_session needs base_model or model_path")
    if not s.store.add_sampler(sampler_id, call.owner, body.session_id, base_model,
                               body.model_path, weights_key, source_run_id):
        existing = s.store.sampler(sampler_id)
        if existing is None or (existing.base_model, existing.model_path) != (
                base_model, body.model_path):
            raise HTTPProblem(409, f"sampling session {sampler_id!r} already exists")
    return T.CreateSamplingSessionResponse(sampling_session_id=sampler_id,
                                           type="create_sampling_session")


@handles("join_sampling_session")
def join_sampling_session(s: Services, call: Call) -> T.JoinSamplingSessionResponse:
    body: T.JoinSamplingSessionRequest = call.body
    sampler = s.store.sampler(body.sampling_session_id)
    if sampler is None or sampler.owner != call.owner:
        raise not_found("sampling session", body.sampling_session_id)
    s.session(call.owner, sampler.session_id)
    return T.JoinSamplingSessionResponse(client_counter=s.store.next_sampler_client(
        sampler.sampler_id), type="join_sampling_session")


def _sampler_for(s: Services, owner: str, body: T.SampleRequest) -> Sampler:
    if body.sampling_session_id is not None:
        sampler = s.store.sampler(body.sampling_session_id)
        if sampler is None or sampler.owner != owner:
            raise not_found("sampling session", body.sampling_session_id)
        s.session(owner, sampler.session_id)
        return sampler
    # SDK 0.1 - 0.2: stateless addressing by base model or checkpoint path.
    if body.model_path is not None:
        checkpoint = s.checkpoint_at(owner, body.model_path)
        source = s.store.run(checkpoint.run_id)
        assert source is not None
        return Sampler(f"path:{body.model_path}", owner, "", source.base_model,
                       body.model_path, checkpoint.storage_key)
    if body.base_model is not None:
        s.catalog.preset(body.base_model)
        return Sampler(f"base:{body.base_model}", owner, "", body.base_model, None, None)
    raise HTTPProblem(400, "asample needs sampling_session_id (or base_model / model_path)")


def _prompt_length(prompt: T.ModelInput) -> int | None:
    """The prompt's token count as :func:`convert.tokens_of` will see it; None when a chunk
    cannot be counted (that prompt then fails in the worker with a precise message)."""
    n = 0
    for chunk in prompt.chunks:
        if isinstance(chunk, T.EncodedTextChunk):
            n += len(chunk.tokens)
        elif (isinstance(chunk, (T.ImageChunk, T.ImageAssetPointerChunk))
              and chunk.expected_tokens is not None and chunk.expected_tokens >= 1):
            n += chunk.expected_tokens
        else:
            return None
    return n


@dataclass
class _Targets:
    """``target_prompt_logprobs`` as the model takes it, and how to lay its answer out.

    ``ids`` is ``[rows, width]`` with -1 for "nothing". Dense requests pass their tensor
    as is; sparse ones are compacted (row ``r`` holds its stored ids first, -1 after),
    and ``gather`` = (row, position) of each stored value in that compact array.
    """

    request: T.TensorData
    ids: np.ndarray
    gather: tuple[np.ndarray, np.ndarray] | None

    def response(self, scores: np.ndarray) -> T.TensorData:
        return convert.target_logprobs_tensor(
            self.request, scores if self.gather is None else scores[self.gather])


def _bad(field: str, msg: str) -> HTTPProblem:
    return HTTPProblem(400, f"{field}: {msg}")


def _targets_of(tensor: T.TensorData, rows: int | None, vocab: int) -> _Targets:
    """Validate the request's target_prompt_logprobs (400 naming the field)."""
    name = "target_prompt_logprobs"
    if str(getattr(tensor.dtype, "value", tensor.dtype)) != "int64":
        raise _bad(name, f"must be an int64 tensor of token ids, got {tensor.dtype}")
    shape = tensor.shape
    if shape is None or len(shape) != 2 or min(shape) < 0:
        raise _bad(name, f"must be 2-D, [len(prompt) - 1, K], got shape {shape}")
    if rows is not None and shape[0] != rows:
        raise _bad(name, f"needs len(prompt) - 1 = {rows} rows, got {shape[0]}")
    crow, col = tensor.sparse_crow_indices, tensor.sparse_col_indices
    gather = None
    if crow is None and col is None:
        if math.prod(shape) > MAX_PROMPT_CELLS:
            raise _bad(name, f"{shape[0]} x {shape[1]} cells is more than {MAX_PROMPT_CELLS}")
        try:
            ids = convert.array_of(tensor, name)
        except UserError as e:
            raise HTTPProblem(400, str(e)) from None
        values = ids.reshape(-1)
    else:
        if crow is None or col is None:
            raise _bad(name, "a sparse tensor needs both sparse_crow_indices and "
                             "sparse_col_indices")
        values = np.asarray(tensor.data, dtype=np.int64)
        crow_a, col_a = np.asarray(crow, dtype=np.int64), np.asarray(col, dtype=np.int64)
        counts = np.diff(crow_a)
        if (len(crow_a) != shape[0] + 1 or crow_a[0] != 0 or (counts < 0).any()
                or crow_a[-1] != len(values) or len(col_a) != len(values)
                or (len(col_a) and (col_a.min() < 0 or col_a.max() >= shape[1]))):
            raise _bad(name, "malformed CSR indices for shape "
                             f"{shape} ({len(values)} stored values)")
        width = int(counts.max()) if len(counts) else 0
        if shape[0] * width > MAX_PROMPT_CELLS:
            raise _bad(name, f"{shape[0]} rows x {width} ids is more than {MAX_PROMPT_CELLS}")
        row_of = np.repeat(np.arange(shape[0]), counts)
        pos = np.arange(len(values)) - crow_a[row_of]
        ids = np.full((shape[0], width), -1, dtype=np.int64)
        ids[row_of, pos] = values
        gather = (row_of, pos)
    if not (values != -1).any():
        raise _bad(name, "names no token id (every cell is -1)")
    if values.min() < -1 or values.max() >= vocab:
        raise _bad(name, f"token ids must be -1 (nothing) or in [0, {vocab})")
    return _Targets(tensor, ids, gather)


def _check_prompt_options(body: T.SampleRequest, prompt_len: int | None,
                          vocab: int) -> _Targets | None:
    """400 for prompt options the real service refuses (ranges the schema cannot say)."""
    rows = None if prompt_len is None else prompt_len - 1
    last_n = body.prompt_logprobs_last_n
    if last_n is not None:
        if not body.prompt_logprobs:
            raise _bad("prompt_logprobs_last_n", "requires prompt_logprobs")
        if last_n < 1 or (rows is not None and last_n > rows):
            raise _bad("prompt_logprobs_last_n",
                       f"must be between 1 and len(prompt) - 1 = {rows}, got {last_n}")
    for field in ("topk_prompt_logprobs", "topk_sample_logprobs", "prompt_alt_tokens_k"):
        if getattr(body, field) < 0:
            raise _bad(field, f"must be >= 0, got {getattr(body, field)}")
    alt_k = body.prompt_alt_tokens_k
    if alt_k and rows is not None and rows * alt_k > MAX_PROMPT_CELLS:
        raise _bad("prompt_alt_tokens_k", f"(len(prompt) - 1) * k = {rows * alt_k} is more "
                                          f"than {MAX_PROMPT_CELLS}")
    if body.target_prompt_logprobs is None:
        return None
    return _targets_of(body.target_prompt_logprobs, rows, vocab)


def _record_sample(s: Services, sampler_id: str, prompt: list[int],
                   params: T.SamplingParams, result: SampleResult) -> None:
    def decode(ids: Any) -> str:
        return _BYTES.decode(ids, skip_special_tokens=True)
    s.history.record_sample(
        sampler_id, decode(prompt),
        params.model_dump(mode="json", exclude_none=True),
        [{"text": decode(seq.tokens), "tokens": len(seq.tokens), "stop_reason": seq.stop_reason}
         for seq in result.sequences])


@handles("asample")
def asample(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.SampleRequest = call.body
    sampler = _sampler_for(s, call.owner, body)
    if not 1 <= body.num_samples <= MAX_SAMPLES:
        raise HTTPProblem(400, f"num_samples must be between 1 and {MAX_SAMPLES}")
    max_len = s.catalog.max_context(sampler.base_model)
    vocab = get_config(s.catalog.preset(sampler.base_model)).vocab_size
    prompt_len = _prompt_length(body.prompt)
    if prompt_len == 0:
        raise _bad("prompt", "is empty; a prompt needs at least one token")
    targets = _check_prompt_options(body, prompt_len, vocab)
    params = body.sampling_params
    stop = [params.stop] if isinstance(params.stop, str) else params.stop

    def work() -> T.SampleResponse:
        config, weights = s.models.sampler_weights(sampler)
        prompt = convert.tokens_of(body.prompt, max_len)
        seed = params.seed
        if seed is None:
            seed = s.sample_seeds.seed_for(list(prompt), [body.num_samples,
                                                           params.model_dump(mode="json")])
        result = sample(
            config, weights, prompt,
            max_tokens=max_len if params.max_tokens is None else params.max_tokens,
            temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
            seed=seed, stop=stop, num_samples=body.num_samples,
            prompt_logprobs=bool(body.prompt_logprobs),
            topk_prompt_logprobs=body.topk_prompt_logprobs,
            topk_sample_logprobs=body.topk_sample_logprobs,
            prompt_logprobs_last_n=body.prompt_logprobs_last_n,
            prompt_alt_tokens_k=body.prompt_alt_tokens_k,
            target_prompt_logprobs=None if targets is None else targets.ids)
        if sampler.session_id:  # stateless (pre-0.3) samplers have no page to show them on
            _record_sample(s, sampler.sampler_id, prompt, params, result)
        response = convert.sample_response(result)
        s.ledger.use(sampler.owner, sampler.session_id or None, sampler.base_model,
                     "sampling_prefill", len(prompt))
        s.ledger.use(sampler.owner, sampler.session_id or None, sampler.base_model,
                     "sampling_sample", sum(len(seq.tokens) for seq in response.sequences))
        if targets is not None and result.target_prompt_logprobs is not None:
            response.target_prompt_logprobs = targets.response(result.target_prompt_logprobs)
        return response

    key = None if body.seq_id is None else ("sample", sampler.sampler_id, body.seq_id)
    record = s.submit(call.owner, "Sample", work, key=key, session_id=sampler.session_id or None,
                      target=sampler.sampler_id)
    if body.sampling_session_id is not None:
        s.completions.watch(record, s.completions.target_of(body.sampling_session_id,
                                                            body.seq_id))
    return s.future(record, sample_ids=[f"{record.request_id}:{i}"
                                        for i in range(body.num_samples)])


@handles("sample_stream")
def sample_stream(s: Services, call: Call) -> StreamingResponse:
    body: T.SampleStreamRequest = call.body
    sampler = _sampler_for(s, call.owner, T.SampleRequest(
        sampling_session_id=body.sampling_session_id, prompt=body.prompt,
        sampling_params=body.sampling_params))
    max_len = s.catalog.max_context(sampler.base_model)
    params = body.sampling_params
    stop = [params.stop] if isinstance(params.stop, str) else params.stop
    max_tokens = max_len if params.max_tokens is None else params.max_tokens
    try:  # bad input is a 400, before the stream starts
        prompt = convert.tokens_of(body.prompt, max_len)
        check_params(get_config(s.catalog.preset(sampler.base_model)), max_tokens,
                     params.temperature, params.top_k, params.top_p)
    except (UserError, ValueError) as exc:
        raise HTTPProblem(400, str(exc)) from None

    def events() -> Iterator[bytes]:
        # Starlette runs a plain iterator in its thread pool: each step of the model
        # runs there and its token leaves before the next step starts.
        try:
            config, weights = s.models.sampler_weights(sampler)
            for item in model_stream(
                    config, weights, prompt,
                    max_tokens=max_tokens, temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
                    seed=params.seed, stop=stop):
                if isinstance(item, StreamedToken):
                    event = T.SampleStreamEvent(type=T.SampleStreamEventType.token,
                                                index=item.index, token=item.token,
                                                logprob=item.logprob)
                else:
                    event = T.SampleStreamEvent(type=T.SampleStreamEventType.done,
                                                stop_reason=T.StopReason(item.stop_reason),
                                                num_tokens=item.num_tokens)
                yield _sse(event.type.value, event.model_dump_json(exclude_none=True))
        except Exception as exc:  # the status line is gone: report it in the stream
            yield _sse("error", json.dumps({"detail": f"sampling failed: {exc}"}))

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


@handles("get_sampler")
def get_sampler(s: Services, call: Call) -> T.GetSamplerResponse:
    sampler_id = call.params["sampler_id"]
    sampler = s.store.sampler(sampler_id)
    if sampler is None or sampler.owner != call.owner:
        raise not_found("sampler", sampler_id)
    return T.GetSamplerResponse(sampler_id=sampler.sampler_id, base_model=sampler.base_model,
                                model_path=sampler.model_path)
