"""``tinkex run ...``: training runs."""

from __future__ import annotations

import click

from tinkex import console

from .context import (
    CliState,
    emit_listing,
    format_option,
    limit_option,
    page_size,
    pass_state,
)
from .output import emit, fields, table, to_json

HEADERS = ("RUN ID", "BASE MODEL", "LORA RANK", "LAST REQUEST", "LAST CHECKPOINT")


@click.group("run")
def group() -> None:
    """Inspect training runs."""


@group.command("list")
@limit_option("training runs")
@format_option
@pass_state
def list_runs(state: CliState, limit: int, fmt: str) -> None:
    """List your training runs."""
    runs = state.rest().iter_training_runs(page_size=page_size(limit))
    emit_listing(fmt, "training_runs", runs, limit, lambda shown: table(HEADERS, [
        (r.training_run_id, r.base_model, r.lora_rank if r.is_lora else "full",
         r.last_request_time, r.last_checkpoint.checkpoint_id if r.last_checkpoint else None)
        for r in shown]))


@group.command("info")
@click.argument("run_id")
@format_option
@pass_state
def info(state: CliState, run_id: str, fmt: str) -> None:
    """Show one training run (and its page in the console)."""
    run = state.rest().get_training_run(run_id).result()
    url = console.training_run_url(run.training_run_id, state.console_base())
    if fmt == "json":
        emit(to_json({**run.model_dump(mode="json"), "console_url": url}))
        return
    last = run.last_checkpoint
    last_sampler = run.last_sampler_checkpoint
    emit(fields([
        ("Run ID", run.training_run_id), ("Base model", run.base_model),
        ("Owner", run.model_owner), ("LoRA", run.is_lora), ("LoRA rank", run.lora_rank),
        ("Corrupted", run.corrupted), ("Last request", run.last_request_time),
        ("Last checkpoint", last.tinker_path if last else None),
        ("Last sampler checkpoint", last_sampler.tinker_path if last_sampler else None),
        ("Metadata", run.user_metadata), ("Console", url),
    ]))


group.add_command(info, "show")
