"""Sampling sessions, asample and sampler lookup.

A sampler is frozen weights: the base model's, a saved sampler checkpoint's, or
a snapshot taken by an ephemeral save_weights_for_sampler. Samples run on the
shared pool in any order (no seq_id ordering), deduped by
``(sampling_session_id, seq_id)`` so a resent request does not sample twice.
"""

from __future__ import annotations

from tinkex import types as T

from .. import convert
from ..errors import ApiError, not_found
from ..model import sample
from ..services import Services
from ..state import Sampler
from . import Call, handles

MAX_SAMPLES = 256


@handles("create_sampling_session")
def create_sampling_session(s: Services, call: Call) -> T.CreateSamplingSessionResponse:
    body: T.CreateSamplingSessionRequest = call.body
    s.session(call.owner, body.session_id)
    sampler_id = f"{body.session_id}:sample:{body.sampling_session_seq_id}"
    if body.model_path is not None:
        checkpoint = s.checkpoint_at(call.owner, body.model_path)
        source = s.store.run(checkpoint.run_id)
        assert source is not None
        base_model, weights_key = source.base_model, checkpoint.storage_key
    elif body.base_model is not None:
        s.catalog.preset(body.base_model)
        base_model, weights_key = body.base_model, None
    else:
        raise ApiError(400, "create_sampling_session needs base_model or model_path")
    if not s.store.add_sampler(sampler_id, call.owner, body.session_id, base_model,
                               body.model_path, weights_key):
        existing = s.store.sampler(sampler_id)
        if existing is None or (existing.base_model, existing.model_path) != (
                base_model, body.model_path):
            raise ApiError(409, f"sampling session {sampler_id!r} already exists")
    return T.CreateSamplingSessionResponse(sampling_session_id=sampler_id,
                                           type="create_sampling_session")


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
    raise ApiError(400, "asample needs sampling_session_id (or base_model / model_path)")


@handles("asample")
def asample(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.SampleRequest = call.body
    sampler = _sampler_for(s, call.owner, body)
    if not 1 <= body.num_samples <= MAX_SAMPLES:
        raise ApiError(400, f"num_samples must be between 1 and {MAX_SAMPLES}")
    max_len = s.catalog.max_context(sampler.base_model)
    params = body.sampling_params
    stop = [params.stop] if isinstance(params.stop, str) else params.stop

    def work() -> T.SampleResponse:
        config, weights = s.models.sampler_weights(sampler)
        prompt = convert.tokens_of(body.prompt, max_len)
        result = sample(
            config, weights, prompt,
            max_tokens=max_len if params.max_tokens is None else params.max_tokens,
            temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
            seed=params.seed, stop=stop, num_samples=body.num_samples,
            prompt_logprobs=bool(body.prompt_logprobs),
            topk_prompt_logprobs=body.topk_prompt_logprobs)
        return convert.sample_response(result)

    key = None if body.seq_id is None else ("sample", sampler.sampler_id, body.seq_id)
    record = s.submit(call.owner, "Sample", work, key=key)
    return s.future(record, sample_ids=[f"{record.request_id}:{i}"
                                        for i in range(body.num_samples)])


@handles("get_sampler")
def get_sampler(s: Services, call: Call) -> T.GetSamplerResponse:
    sampler_id = call.params["sampler_id"]
    sampler = s.store.sampler(sampler_id)
    if sampler is None or sampler.owner != call.owner:
        raise not_found("sampler", sampler_id)
    return T.GetSamplerResponse(sampler_id=sampler.sampler_id, base_model=sampler.base_model,
                                model_path=sampler.model_path)
