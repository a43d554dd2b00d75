"""Copies of weights and downloads of external (HuggingFace-format) exports.

A copy is a new, frozen training run (it holds weights and cannot be trained
on) in the destination project or session, whose checkpoint shares the
source's weight file: no bytes are duplicated, and the file stays until the
last checkpoint using it is gone. The official client reuses one idempotency
key across every retry of a copy, so the key names the copy it made.

An ``external_weights/<name>`` checkpoint downloads as a PEFT-style directory:
the adapter weights as saved (``adapter_model.safetensors``), their LoRA
settings (``adapter_config.json``) and the base model's shape (``config.json``),
each behind its own signed URL.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from starlette.responses import FileResponse, JSONResponse, Response

from tinkex import types as T
from tinkex.emulator.compute.model import get_config
from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.state.store import Checkpoint

from ..services import Services
from .registry import Call, handles
from .rest import MAX_TTL, wire_time

ACCESS_TOKEN_HEADER = "x-tinker-weights-access-token"
MIN_COPY_TTL = 3600
EXTERNAL_FILES = ("adapter_model.safetensors", "adapter_config.json", "config.json")


def _copy_target(s: Services, call: Call, body: T.CopyWeightsRequest,
                 source_path: str) -> tuple[str, str]:
    """(session id, run id) of the copy; the session is created for project copies."""
    if body.session_id is not None:
        if body.model_seq_id is None:
            raise HTTPProblem(400, "copy_weights with session_id needs model_seq_id too")
        s.session(call.owner, body.session_id)
        return body.session_id, f"{body.session_id}:train:{body.model_seq_id}"
    if not body.destination_project_id:
        raise HTTPProblem(400, "copy_weights needs destination_project_id, or session_id and "
                               "model_seq_id")
    project = s.project_for(call.owner, body.destination_project_id)
    key = call.request.headers.get("x-idempotency-key") or uuid.uuid4().hex
    # The same idempotency key (a retried call) names the same copy.
    session_id = s.store.setting(f"copy:{call.owner}:{key}", lambda: str(uuid.uuid4()))
    if s.store.session(session_id) is None:
        s.store.add_session(session_id, call.owner, "copy_weights", [], None, project,
                            f"copy of {source_path}")
        s.store.finish_session(session_id, "success", "holds copied weights")
    return session_id, f"{session_id}:train:0"


@handles("copy_weights")
def copy_weights(s: Services, call: Call) -> T.CopyWeightsResponse:
    body: T.CopyWeightsRequest = call.body
    token = call.request.headers.get(ACCESS_TOKEN_HEADER) or body.weights_access_token
    if body.ttl_seconds is not None and not MIN_COPY_TTL <= body.ttl_seconds <= MAX_TTL:
        raise HTTPProblem(400, f"ttl_seconds must be between {MIN_COPY_TTL} and {MAX_TTL} "
                               "(or null for no expiry)")
    source = s.checkpoint_at(call.owner, body.source_path, token)
    source_run = s.store.run(source.run_id)
    assert source_run is not None
    session_id, run_id = _copy_target(s, call, body, body.source_path)
    path = f"tinker://{run_id}/{source.kind}/{source.name}"
    if s.store.add_run(run_id, call.owner, session_id, source_run.base_model, source_run.lora,
                       source_run.user_metadata, frozen=True):
        s.store.put_checkpoint(run_id, source.kind, source.name, call.owner, source.size_bytes,
                               source.storage_key, body.ttl_seconds, source.user_metadata)
        s.audit_checkpoint(call.owner, "checkpoint_read", source, purpose="copy")
        s.audit_checkpoint(call.owner, "checkpoint_copy", source, destination=path)
    elif s.store.checkpoint(run_id, source.kind, source.name) is None:
        raise HTTPProblem(409, f"training run {run_id!r} already exists")
    return T.CopyWeightsResponse(tinker_path=path)


@handles("get_external_weights_urls")
def get_external_weights_urls(s: Services, call: Call) -> T.ExternalWeightsUrlsResponse:
    p = call.params
    c = s.checkpoint(call.owner, p["training_run_id"], p["checkpoint_kind"], p["checkpoint_name"],
                     public_ok=True)
    if c.kind != "external_weights":
        raise HTTPProblem(400, f"{c.kind}/{c.name} is not an external weights checkpoint; "
                               "export one with save_weights_external")
    token, expires = s.links.issue("external", {"r": c.run_id, "k": c.kind, "n": c.name,
                                                "o": c.owner})
    base = str(call.request.base_url).rstrip("/")
    s.audit_checkpoint(call.owner, "checkpoint_read", c, purpose="download")
    return T.ExternalWeightsUrlsResponse(
        urls={name: f"{base}/_emulator/external/{token}/{name}" for name in EXTERNAL_FILES},
        expires=wire_time(expires))


def _adapter_config(s: Services, c: Checkpoint) -> dict[str, Any]:
    run = s.store.run(c.run_id)
    assert run is not None
    lora = run.lora
    targets = [name for name, on in (("attn", lora["train_attn"]), ("mlp", lora["train_mlp"]),
                                     ("unembed", lora["train_unembed"])) if on]
    return {"peft_type": "LORA", "base_model_name_or_path": run.base_model, "r": lora["rank"],
            "lora_alpha": lora["rank"], "target_modules": targets, "task_type": "CAUSAL_LM",
            "tinker_path": f"tinker://{c.run_id}/{c.kind}/{c.name}"}


async def download_external(s: Services, token: str, name: str) -> Response:
    """``GET /_emulator/external/{token}/{file}``: one file of an external weights export."""
    claims = s.links.open("external", token)
    c = s.store.checkpoint(claims["r"], claims["k"], claims["n"])
    if c is None or c.owner != claims["o"] or not s.files.path(c.storage_key).exists():
        raise HTTPProblem(404, "the checkpoint behind this URL no longer exists")
    if name == "adapter_model.safetensors":
        return FileResponse(s.files.path(c.storage_key), media_type="application/octet-stream",
                            filename=name)
    if name == "adapter_config.json":
        return JSONResponse(_adapter_config(s, c))
    if name == "config.json":
        run = s.store.run(c.run_id)
        assert run is not None
        config = get_config(s.catalog.preset(run.base_model))
        return JSONResponse({"model_type": "tinkex-byte-transformer", "name": run.base_model,
                             **{k: v for k, v in dataclasses.asdict(config).items()
                                if k != "name"}})
    raise HTTPProblem(404, f"no file {name!r} in this export; files: {', '.join(EXTERNAL_FILES)}")
