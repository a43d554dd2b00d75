"""Training operations: create a model, passes, optimizer steps, saving and loading weights.

Each handler checks what it can at once (ownership, names, base models: bad
input is an HTTP error), then queues the real work in the model's lane and
answers with a future. Errors only the model can find (loss inputs, shapes,
LoRA mismatches) fail the future with category ``user``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinkex import types as T
from tinkex.emulator.compute import convert
from tinkex.emulator.compute.model import Datum, LoraConfig
from tinkex.emulator.errors import HTTPProblem, ServerFailure, UserError
from tinkex.emulator.state.store import Run
from tinkex.proto.codec import ForwardBackwardCall

from ..auth import urn_of
from ..services import Services, check_name
from .custom_loss import CUSTOM, loss_for, run_custom
from .registry import Call, checks_raw, handles

ARCH = "tinkex-byte-transformer"
_OUTPUT_TYPE = "ArrayRecord"


def _lora(config: T.LoraConfig | None) -> dict[str, Any]:
    """Wire LoRA settings -> the stored form, checked by the model's own LoraConfig."""
    wire = config or T.LoraConfig(rank=32)
    lora: dict[str, Any] = {"rank": wire.rank, "seed": wire.seed, "train_mlp": wire.train_mlp,
            "train_attn": wire.train_attn, "train_unembed": wire.train_unembed}
    try:
        LoraConfig(**lora)
    except (TypeError, ValueError) as e:
        raise HTTPProblem(400, f"invalid lora_config: {e}") from None
    return lora


def _new_run(s: Services, owner: str, session_id: str, model_seq_id: int, base_model: str,
             lora: dict[str, Any], user_metadata: dict[str, Any] | None) -> Run:
    s.session(owner, session_id)
    s.catalog.preset(base_model)
    run_id = f"{session_id}:train:{model_seq_id}"
    s.store.add_run(run_id, owner, session_id, base_model, lora, user_metadata)
    run = s.store.run(run_id)
    assert run is not None
    if run.base_model != base_model or run.lora != lora:
        raise HTTPProblem(409, f"model {run_id!r} already exists with other settings")
    return run


PRE_SESSION_SDK = (
    "this client predates server sessions (tinker SDK 0.1 - 0.2 send create_model without "
    "session_id / model_seq_id); the service needs tinker >= 0.3: pip install -U tinker")


@checks_raw("create_model")
def _create_model_needs_a_session(data: Any) -> None:
    if isinstance(data, dict) and "base_model" in data and "session_id" not in data:
        raise HTTPProblem(400, PRE_SESSION_SDK)


@handles("create_model")
def create_model(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.CreateModelRequest = call.body
    if body.optimizer_config is not None and body.optimizer_config.type != "adamw":
        raise HTTPProblem(400, f"optimizer {body.optimizer_config.type!r} is not supported; "
                               "the emulator has adamw only")
    run = _new_run(s, call.owner, body.session_id, body.model_seq_id, body.base_model,
                   _lora(body.lora_config), body.user_metadata)

    def work() -> T.CreateModelResponse:
        s.models.create(run)
        return T.CreateModelResponse(model_id=run.run_id)

    record = s.submit_training(call.owner, run, None, "CreateModel", work,
                               key=("create", run.run_id))
    return s.future(record, model_id=run.run_id)


@handles("get_info")
def get_info(s: Services, call: Call) -> T.GetInfoResponse:
    body: T.GetInfoRequest = call.body
    run = s.run(call.owner, body.model_id, active=False)
    return T.GetInfoResponse(
        type="get_info", model_id=run.run_id, is_lora=True, lora_rank=run.lora["rank"],
        model_name=run.base_model,
        # A directory of Hugging Face tokenizer files: transformers loads it offline, and
        # tinkex recognizes it as its byte tokenizer.
        model_data=T.ModelData(arch=ARCH, model_name=run.base_model,
                               tokenizer_id=str(s.tokenizer_dir)))


@handles("unload_model")
def unload_model(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.UnloadModelRequest = call.body
    run = s.run(call.owner, body.model_id, active=False)

    def work() -> T.UnloadModelResponse:
        s.models.drop(run.run_id)
        return T.UnloadModelResponse(model_id=run.run_id, type="unload_model")

    return s.future(s.submit(call.owner, "UnloadModel", work), model_id=run.run_id)


def _batch(data: list[T.Datum], max_len: int) -> list[Datum]:
    batch = []
    for i, datum in enumerate(data):
        tokens = convert.tokens_of(datum.model_input, max_len)
        inputs = {key: convert.array_of(value, f"datum {i}: loss_fn_inputs[{key!r}]")
                  for key, value in datum.loss_fn_inputs.items()}
        batch.append(Datum(tokens, inputs))
    return batch


def _check_intact(s: Services, run: Run) -> None:
    """A corrupted run (fault injection) fails its training requests on the server's side."""
    if s.faults.corrupted(run.run_id):
        raise ServerFailure(f"training run {run.run_id} is corrupted; restore it from a "
                            "checkpoint")


def _record_pass(s: Services, run_id: str, batch: list[Datum], loss_fn: str,
                 metrics: dict[str, float], backward: bool) -> None:
    weights = [d.loss_fn_inputs["weights"] for d in batch if "weights" in d.loss_fn_inputs]
    s.history.record_pass(run_id, backward, loss_fn, metrics.get("loss:sum", 0.0),
                          tokens=sum(len(d.tokens) for d in batch),
                          weight_sum=float(sum(w.sum() for w in weights)) if weights else None,
                          datums=len(batch))


def _pass(s: Services, call: Call, model_id: str, seq_id: int | None,
          fb_input: T.ForwardBackwardInput, backward: bool) -> T.UntypedAPIFuture:
    if not fb_input.data:  # protobuf bodies bypass the JSON schema's minItems
        raise HTTPProblem(400, "data: is empty; a pass needs at least one datum")
    run = s.run(call.owner, model_id)
    max_len = s.catalog.max_context(run.base_model)
    custom = (loss_for(s, run, fb_input.loss_fn_config)
              if fb_input.loss_fn.value == CUSTOM else None)

    def work() -> T.ForwardBackwardOutput:
        _check_intact(s, run)
        model = s.models.get(run.run_id)
        batch = _batch(fb_input.data, max_len)
        if custom is not None:
            outputs, metrics = run_custom(model, batch, custom, backward)
        else:
            run_pass = model.forward_backward if backward else model.forward
            outputs, metrics = run_pass(batch, fb_input.loss_fn.value, fb_input.loss_fn_config)
        s.ledger.use(run.owner, run.session_id, run.base_model, "training",
                     sum(len(d.tokens) for d in batch))
        if not all(np.isfinite(v) for v in metrics.values()):
            raise UserError(f"loss function {fb_input.loss_fn.value!r} produced a non-finite "
                            "loss; check the loss_fn_inputs")
        _record_pass(s, run.run_id, batch, fb_input.loss_fn.value, metrics, backward)
        return T.ForwardBackwardOutput(
            loss_fn_output_type=_OUTPUT_TYPE, metrics=metrics,
            loss_fn_outputs=[{k: convert.tensor(v) for k, v in out.items()} for out in outputs])

    kind = "ForwardBackward" if backward else "Forward"
    return s.future(s.submit_training(call.owner, run, seq_id, kind, work), model_id=model_id)


@handles("forward")
def forward(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.ForwardRequest = call.body
    return _pass(s, call, body.model_id, body.seq_id, body.forward_input, backward=False)


@handles("forward_backward")
def forward_backward(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.ForwardBackwardRequest | ForwardBackwardCall = call.body
    if isinstance(body, ForwardBackwardCall):  # protobuf: may be a forward pass (SDK >= 0.25)
        return _pass(s, call, body.model_id, body.seq_id, body.input,
                     backward=not body.forward_only)
    return _pass(s, call, body.model_id, body.seq_id, body.forward_backward_input, backward=True)


@handles("optim_step")
def optim_step(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.OptimStepRequest = call.body
    if body.optimizer_params is not None:
        raise HTTPProblem(400, "optimizer_params (dimuon) is not supported; send adam_params")
    run = s.run(call.owner, body.model_id)
    params = (body.adam_params or T.AdamParams()).model_dump()

    def work() -> T.OptimStepResponse:
        _check_intact(s, run)
        metrics = s.models.get(run.run_id).optim_step(params)
        s.faults.note_optimizer_step(run.run_id)
        s.history.record_step(run.run_id, params.get("learning_rate"), metrics)
        return T.OptimStepResponse(metrics=metrics)

    record = s.submit_training(call.owner, run, body.seq_id, "OptimStep", work)
    return s.future(record, model_id=run.run_id)


def _save(s: Services, run: Run, kind: str, name: str, state: dict[str, np.ndarray],
          ttl_seconds: int | None, user_metadata: dict[str, str] | None) -> tuple[str, int]:
    """Write a checkpoint file and row; returns its tinker path and size."""
    meta = {"base_model": run.base_model, "training_run_id": run.run_id, "kind": kind}
    key, size = s.files.save(state, meta)
    replaced = s.store.put_checkpoint(run.run_id, kind, name, run.owner, size, key,
                                      ttl_seconds, user_metadata)
    if replaced is not None and not s.store.storage_key_in_use(replaced):
        s.files.delete(replaced)
    path = f"tinker://{run.run_id}/{kind}/{name}"
    s.ledger.stored(run.owner, run.session_id, run.base_model, run.run_id, kind, name, size)
    s.ledger.use(run.owner, run.session_id, run.base_model, "checkpoint", 1)
    s.ledger.audit(run.owner, "checkpoint_create",
                   {"actor": urn_of(run.owner), "tinker_path": path,
                    "model_id": run.run_id, "size_bytes": size},
                   model_id=run.run_id, tinker_path=path)
    return path, size


def _check_ttl(ttl_seconds: int | None) -> int | None:
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise HTTPProblem(400, "ttl_seconds must be positive (or null for no expiry)")
    return ttl_seconds


@handles("save_weights")
def save_weights(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.SaveWeightsRequest = call.body
    run = s.run(call.owner, body.model_id)
    name = check_name(body.path)
    ttl = _check_ttl(body.ttl_seconds)
    if not body.overwrite and s.store.checkpoint(run.run_id, "weights", name) is not None:
        if body.seq_id is not None and body.seq_id <= (run.last_seq_id or 0):
            # A resend of a save that ran, its future since forgotten: the checkpoint is
            # the answer (a new request would carry a new seq_id).
            done = T.SaveWeightsResponse(path=f"tinker://{run.run_id}/weights/{name}",
                                         type="save_weights")
            return s.future(s.submit(call.owner, "SaveWeights", lambda: done),
                            model_id=run.run_id)
        raise HTTPProblem(409, f"checkpoint weights/{name} already exists (set overwrite)")

    def work() -> T.SaveWeightsResponse:
        state = s.models.get(run.run_id).state_dict(include_optimizer=True)
        path, _ = _save(s, run, "weights", name, state, ttl, body.user_metadata)
        return T.SaveWeightsResponse(path=path, type="save_weights")

    record = s.submit_training(call.owner, run, body.seq_id, "SaveWeights", work)
    return s.future(record, model_id=run.run_id)


@handles("save_weights_for_sampler")
def save_weights_for_sampler(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.SaveWeightsForSamplerRequest = call.body
    run = s.run(call.owner, body.model_id)
    ttl = _check_ttl(body.ttl_seconds)
    if body.path is not None:
        name = check_name(body.path)

        def work() -> T.SaveWeightsForSamplerResponseInternal:
            state = s.models.get(run.run_id).state_dict(include_optimizer=False)
            path, _ = _save(s, run, "sampler_weights", name, state, ttl, body.user_metadata)
            return T.SaveWeightsForSamplerResponseInternal(path=path,
                                                          type="save_weights_for_sampler")
    elif body.sampling_session_seq_id is not None:
        sampler_id = f"{run.session_id}:sample:{body.sampling_session_seq_id}"
        existing = s.store.sampler(sampler_id)
        if existing is not None and (existing.owner, existing.source_run_id) == (
                run.owner, run.run_id):
            # A resend after the first request's future was forgotten (retention, restart):
            # the sampler it made is the answer.
            done = T.SaveWeightsForSamplerResponseInternal(sampling_session_id=sampler_id,
                                                           type="save_weights_for_sampler")
            return s.future(s.submit(call.owner, "SaveWeightsForSampler", lambda: done),
                            model_id=run.run_id)
        if existing is not None:
            raise HTTPProblem(409, f"sampling session {sampler_id!r} already exists")

        def work() -> T.SaveWeightsForSamplerResponseInternal:
            state = s.models.get(run.run_id).state_dict(include_optimizer=False)
            key, _ = s.files.save(state, {"base_model": run.base_model, "sampler": sampler_id})
            s.store.add_sampler(sampler_id, run.owner, run.session_id, run.base_model, None, key,
                                source_run_id=run.run_id)
            return T.SaveWeightsForSamplerResponseInternal(sampling_session_id=sampler_id,
                                                          type="save_weights_for_sampler")
    else:
        raise HTTPProblem(400, "save_weights_for_sampler needs a path (named save) or "
                               "sampling_session_seq_id (ephemeral save)")
    record = s.submit_training(call.owner, run, body.seq_id, "SaveWeightsForSampler", work)
    return s.future(record, model_id=run.run_id)


@handles("save_weights_external")
def save_weights_external(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.SaveWeightsExternalRequest = call.body
    run = s.run(call.owner, body.model_id)
    name = check_name(body.path)
    ttl = _check_ttl(body.ttl_seconds)

    def work() -> T.SaveWeightsExternalResponseInternal:
        state = s.models.get(run.run_id).state_dict(include_optimizer=False)
        path, size = _save(s, run, "external_weights", name, state, ttl, None)
        return T.SaveWeightsExternalResponseInternal(path=path, size_bytes=size,
                                                     type="save_weights_external")

    record = s.submit_training(call.owner, run, body.seq_id, "SaveWeightsExternal", work)
    return s.future(record, model_id=run.run_id)


@handles("load_weights")
def load_weights(s: Services, call: Call) -> T.UntypedAPIFuture:
    body: T.LoadWeightsRequest = call.body
    checkpoint = s.checkpoint_at(call.owner, body.path, body.weights_access_token)
    source = s.store.run(checkpoint.run_id)
    assert source is not None
    if body.model_id is not None:
        run = s.run(call.owner, body.model_id)
        seq_id, key = body.seq_id, None
    elif body.session_id is not None and body.model_seq_id is not None:
        base = body.base_model or source.base_model
        if s.catalog.preset(base) != s.catalog.preset(source.base_model):
            raise HTTPProblem(400, f"checkpoint {body.path!r} was trained on "
                                   f"{source.base_model!r}, not {base!r}")
        run = _new_run(s, call.owner, body.session_id, body.model_seq_id, base, source.lora,
                       body.user_metadata)
        seq_id, key = None, ("create", run.run_id)
    else:
        raise HTTPProblem(400, "load_weights needs model_id (load into an existing model) or "
                               "session_id and model_seq_id (create a model from the checkpoint)")
    storage_key, creating = checkpoint.storage_key, body.model_id is None
    s.audit_checkpoint(call.owner, "checkpoint_read", checkpoint, purpose="load_weights")

    def work() -> T.LoadWeightsResponse:
        if not s.files.path(storage_key).exists():
            raise UserError(f"checkpoint {body.path!r} no longer exists")
        state = s.files.load(storage_key)
        if creating:
            s.models.create(run, state, load_optimizer=body.optimizer)
        else:
            s.models.get(run.run_id).load_state_dict(state, load_optimizer=body.optimizer)
        return T.LoadWeightsResponse(path=body.path, model_id=run.run_id, type="load_weights")

    record = s.submit_training(call.owner, run, seq_id, "LoadWeights", work, key=key)
    return s.future(record, model_id=run.run_id)

