"""REST resources: training runs, checkpoints (list, delete, publish, TTL, archive), weights info.

Others' runs and checkpoints are 404 unless a checkpoint is public: public ones
(and their runs) show up with ``access_scope=accessible`` and can be loaded.
Listing purges expired checkpoints first, so they vanish from every view.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from starlette.responses import Response

from tinkex import types as T
from tinkex.emulator.errors import HTTPProblem, not_found
from tinkex.emulator.state.store import Checkpoint, Run
from tinkex.paths import CHECKPOINT_TYPES

from ..archive import stream_archive
from ..services import Services
from .paging import page
from .registry import Call, handles

MAX_TTL = 10 * 365 * 24 * 3600


def wire_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def wire_checkpoint(c: Checkpoint) -> T.Checkpoint:
    return T.Checkpoint(
        checkpoint_id=f"{c.kind}/{c.name}",
        checkpoint_type=T.CheckpointType(CHECKPOINT_TYPES[c.kind]), time=wire_time(c.created_at),
        tinker_path=f"tinker://{c.run_id}/{c.kind}/{c.name}", size_bytes=c.size_bytes,
        public=c.public, user_metadata=c.user_metadata,
        expires_at=None if c.expires_at is None else wire_time(c.expires_at))


def wire_run(s: Services, run: Run) -> T.TrainingRun:
    last = s.store.latest_checkpoint(run.run_id, "weights")
    last_sampler = s.store.latest_checkpoint(run.run_id, "sampler_weights")
    metadata = None if run.user_metadata is None else {
        str(k): str(v) for k, v in run.user_metadata.items()}
    return T.TrainingRun(
        training_run_id=run.run_id, base_model=run.base_model, model_owner=run.owner,
        is_lora=True, lora_rank=run.lora["rank"], last_request_time=wire_time(run.last_request_time),
        corrupted=s.faults.corrupted(run.run_id),
        last_checkpoint=None if last is None else wire_checkpoint(last),
        last_sampler_checkpoint=None if last_sampler is None else wire_checkpoint(last_sampler),
        user_metadata=metadata)


def _accessible(call: Call) -> bool:
    return call.params.get("access_scope") == "accessible"


@handles("list_training_runs")
def list_training_runs(s: Services, call: Call) -> T.TrainingRunsResponse:
    s.purge_expired()
    offset, limit = page(call.params)
    runs, total = s.store.runs(call.owner, _accessible(call), offset, limit)
    return T.TrainingRunsResponse(training_runs=[wire_run(s, r) for r in runs],
                                  cursor=T.Cursor(offset=offset, limit=limit, total_count=total))


@handles("get_training_run")
def get_training_run(s: Services, call: Call) -> T.TrainingRun:
    run_id = call.params["training_run_id"]
    run = s.store.run_visible(run_id, call.owner, _accessible(call))
    if run is None:
        raise not_found("training run", run_id)
    return wire_run(s, run)


@handles("list_checkpoints")
def list_checkpoints(s: Services, call: Call) -> T.CheckpointsListResponse:
    s.purge_expired()
    run_id = call.params["training_run_id"]
    run = s.store.run_visible(run_id, call.owner, accessible=True)
    if run is None:
        raise not_found("training run", run_id)
    checkpoints, _ = s.store.checkpoints(run_id, None)
    if run.owner != call.owner:
        checkpoints = [c for c in checkpoints if c.public]
    return T.CheckpointsListResponse(
        checkpoints=[wire_checkpoint(c) for c in checkpoints],
        cursor=T.Cursor(offset=0, limit=len(checkpoints), total_count=len(checkpoints)))


@handles("list_user_checkpoints")
def list_user_checkpoints(s: Services, call: Call) -> T.CheckpointsListResponse:
    s.purge_expired()
    offset, limit = page(call.params)
    checkpoints, total = s.store.checkpoints(None, call.owner, offset, limit)
    return T.CheckpointsListResponse(
        checkpoints=[wire_checkpoint(c) for c in checkpoints],
        cursor=T.Cursor(offset=offset, limit=limit, total_count=total))


def _own(s: Services, call: Call) -> Checkpoint:
    p = call.params
    return s.checkpoint(call.owner, p["training_run_id"], p["checkpoint_kind"],
                        p["checkpoint_name"])


@handles("delete_checkpoint")
def delete_checkpoint(s: Services, call: Call) -> None:
    c = _own(s, call)
    s.forget_checkpoint(c)
    s.audit_checkpoint(call.owner, "checkpoint_delete", c)


@handles("publish_checkpoint")
def publish_checkpoint(s: Services, call: Call) -> None:
    c = _own(s, call)
    if c.public:
        raise HTTPProblem(409, f"checkpoint {c.kind}/{c.name} is already public")
    s.store.set_public(c.run_id, c.kind, c.name, True)
    s.audit_checkpoint(call.owner, "checkpoint_publish", c)


@handles("unpublish_checkpoint")
def unpublish_checkpoint(s: Services, call: Call) -> None:
    c = _own(s, call)
    if not c.public:
        raise HTTPProblem(409, f"checkpoint {c.kind}/{c.name} is not public")
    s.store.set_public(c.run_id, c.kind, c.name, False)
    s.audit_checkpoint(call.owner, "checkpoint_unpublish", c)


@handles("set_checkpoint_ttl")
def set_checkpoint_ttl(s: Services, call: Call) -> None:
    body: T.CheckpointTtlRequest = call.body
    c = _own(s, call)
    if body.ttl_seconds is not None and not 0 < body.ttl_seconds <= MAX_TTL:
        raise HTTPProblem(400, f"ttl_seconds must be between 1 and {MAX_TTL} (or null)")
    s.store.set_expiry(c.run_id, c.kind, c.name, body.ttl_seconds)
    s.audit_checkpoint(call.owner, "checkpoint_ttl_set", c, ttl_seconds=body.ttl_seconds)


@handles("get_checkpoint_archive_url")
def get_checkpoint_archive_url(s: Services, call: Call) -> T.CheckpointArchiveUrlResponse | Response:
    # Whoever may load a checkpoint may download it: a published one is readable by all.
    p = call.params
    c = s.checkpoint(call.owner, p["training_run_id"], p["checkpoint_kind"],
                     p["checkpoint_name"], public_ok=True)
    token, expires = s.links.issue("archive", {"r": c.run_id, "k": c.kind, "n": c.name,
                                               "o": c.owner})
    base = str(call.request.base_url).rstrip("/")
    s.audit_checkpoint(call.owner, "checkpoint_read", c, purpose="download")
    url = f"{base}/_emulator/archives/{token}"
    accept = call.request.headers.get("accept", "")
    if "application/gzip" in accept and "json" not in accept:
        # SDK <= 0.22.1 ask for application/gzip and read only the redirect form.
        return Response(status_code=302, headers={
            "Location": url, "Expires": format_datetime(wire_time(expires), usegmt=True)})
    return T.CheckpointArchiveUrlResponse(url=url, expires=wire_time(expires))


async def download_archive(s: Services, token: str) -> Response:
    """``GET /_emulator/archives/{token}``: the signed URL handed out above."""
    claims: dict[str, Any] = s.links.open("archive", token)
    c = s.store.checkpoint(claims["r"], claims["k"], claims["n"])
    if c is None or c.owner != claims["o"]:
        raise HTTPProblem(404, "the checkpoint behind this archive URL no longer exists")
    return await archive_of(s, c)


async def archive_of(s: Services, c: Checkpoint) -> Response:
    """The tar.gz of a checkpoint (its weights and a ``checkpoint.json``); 404 without files."""
    if not s.files.path(c.storage_key).exists():
        raise HTTPProblem(404, "the checkpoint behind this archive URL no longer exists")
    run = s.store.run(c.run_id)
    manifest = {"tinker_path": f"tinker://{c.run_id}/{c.kind}/{c.name}",
                "checkpoint_type": CHECKPOINT_TYPES[c.kind],
                "base_model": run.base_model if run else None,
                "lora": run.lora if run else None, "size_bytes": c.size_bytes,
                "created_at": wire_time(c.created_at).isoformat()}
    return await stream_archive(s.files.path(c.storage_key), manifest,
                                f"{c.kind}-{c.name}.tar.gz")


@handles("get_weights_info")
def get_weights_info(s: Services, call: Call) -> T.WeightsInfoResponse:
    body: T.WeightsInfoRequest = call.body
    c = s.checkpoint_at(call.owner, body.tinker_path)
    run = s.store.run(c.run_id)
    assert run is not None
    lora = run.lora
    return T.WeightsInfoResponse(
        base_model=run.base_model, is_lora=True, lora_rank=lora["rank"],
        train_unembed=lora["train_unembed"], train_mlp=lora["train_mlp"],
        train_attn=lora["train_attn"], optimizer_config=T.OptimizerConfig(type="adamw"))
