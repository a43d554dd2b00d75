"""``tinkex checkpoint ...``: list, inspect, download, delete, publish and expire checkpoints."""

from __future__ import annotations

import sys
from typing import Any

import click

from tinkex import console
from tinkex.paths import TinkerPath, TinkerPathError
from tinkex.types import Checkpoint

from .context import (
    CliState,
    emit_listing,
    format_option,
    limit_option,
    page_size,
    pass_state,
)
from .errors import EXPECTED, describe
from .output import emit, fields, human_size, note, table, to_json

HEADERS = ("PATH", "TYPE", "SIZE", "PUBLIC", "CREATED", "EXPIRES")


def row(c: Checkpoint) -> tuple[Any, ...]:
    return (c.tinker_path, c.checkpoint_type, human_size(c.size_bytes), c.public, c.time,
            c.expires_at)


def checkpoint_table(checkpoints: list[Checkpoint]) -> str:
    return table(HEADERS, [row(c) for c in checkpoints])


@click.group("checkpoint")
def group() -> None:
    """Manage checkpoints.

    A checkpoint is addressed by its path, tinker://RUN_ID/KIND/NAME.
    """


@group.command("list")
@click.option("--run-id", metavar="ID", help="Only this training run's checkpoints.")
@limit_option("checkpoints")
@format_option
@pass_state
def list_checkpoints(state: CliState, run_id: str | None, limit: int, fmt: str) -> None:
    """List your checkpoints, newest first."""
    rest = state.rest()
    items = (rest.list_checkpoints(run_id).result().checkpoints if run_id
             else rest.iter_user_checkpoints(page_size=page_size(limit)))
    emit_listing(fmt, "checkpoints", items, limit, checkpoint_table)


@group.command("info")
@click.argument("path")
@format_option
@pass_state
def info(state: CliState, path: str, fmt: str) -> None:
    """Show one checkpoint and the model its weights belong to."""
    parsed = TinkerPath.parse(path)
    rest = state.rest()
    listing = rest.list_checkpoints(parsed.training_run_id)
    weights_future = rest.get_weights_info_by_tinker_path(path)
    found = next((c for c in listing.result().checkpoints
                  if c.checkpoint_id == parsed.checkpoint_id), None)
    if found is None:
        raise click.ClickException(f"checkpoint {path!r} not found")
    weights = weights_future.result()
    base = state.console_base()
    links = {"console_url": console.checkpoint_url(parsed.training_run_id,
                                                   parsed.checkpoint_id, base)}
    if parsed.kind == "sampler_weights":
        links["playground_url"] = console.playground_url(found.tinker_path, base)
    if fmt == "json":
        emit(to_json({**found.model_dump(mode="json"), "weights": weights, **links}))
        return
    emit(fields([
        ("Path", found.tinker_path), ("Checkpoint ID", found.checkpoint_id),
        ("Type", found.checkpoint_type), ("Training run", parsed.training_run_id),
        ("Created", found.time), ("Size", human_size(found.size_bytes)),
        ("Public", found.public), ("Expires", found.expires_at or "never"),
        ("Base model", weights.base_model), ("LoRA", weights.is_lora),
        ("LoRA rank", weights.lora_rank), ("Metadata", found.user_metadata),
        ("Console", links["console_url"]),
        *([("Playground", links["playground_url"])] if "playground_url" in links else []),
    ]))


@group.command("download")
@click.argument("path")
@click.option("--output", "-o", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Directory to put the checkpoint's directory in.")
@click.option("--force", is_flag=True, help="Replace the checkpoint's directory if it exists.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr (default: when stderr is a terminal).")
@pass_state
def download(state: CliState, path: str, output: str, force: bool, progress: bool | None
             ) -> None:
    """Download and extract a checkpoint.

    Prints the directory it was extracted to; progress goes to stderr.
    """
    from tinkex import checkpoints

    if progress is None:
        progress = sys.stderr.isatty()
    destination = checkpoints.target_dir(output, path)
    if destination.exists() and not force:
        raise click.ClickException(f"{destination} already exists (use --force to replace it)")
    emit(str(checkpoints.download(state.rest(), path, output, force=force, progress=progress)))


def _validate(paths: tuple[str, ...]) -> list[str]:
    """Every path parsed before anything is deleted; duplicates dropped, order kept."""
    problems = []
    for path in paths:
        try:
            TinkerPath.parse(path)
        except TinkerPathError as exc:
            problems.append(str(exc))
    if problems:
        raise click.ClickException("; ".join(problems) + " (nothing was deleted)")
    return list(dict.fromkeys(paths))


@group.command("delete")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete(state: CliState, paths: tuple[str, ...], yes: bool) -> None:
    """Delete checkpoints.

    Every path is checked before anything is deleted; one confirmation covers them all.
    """
    unique = _validate(paths)
    count = len(unique)
    noun = "checkpoint" if count == 1 else "checkpoints"
    if not yes:
        note(f"About to delete {count} {noun}:")
        for path in unique:
            note(f"  {path}")
        if not click.confirm(f"Delete {count} {noun}?", default=False, err=True):
            raise click.ClickException("aborted (nothing was deleted)")
    rest = state.rest()
    pending = [(path, rest.delete_checkpoint_from_tinker_path(path)) for path in unique]
    failed = 0
    for path, future in pending:
        try:
            future.result()
        except EXPECTED as exc:
            failed += 1
            note(f"Failed to delete {path}: {describe(exc, state.resolved_base_url)}")
        else:
            emit(f"Deleted {path}")
    if failed:
        raise click.ClickException(f"{failed} of {count} {noun} could not be deleted")


@group.command("publish")
@click.argument("path")
@pass_state
def publish(state: CliState, path: str) -> None:
    """Make a checkpoint public (others can load it; it stays yours)."""
    state.rest().publish_checkpoint_from_tinker_path(path).result()
    emit(f"Published {path}")


@group.command("unpublish")
@click.argument("path")
@pass_state
def unpublish(state: CliState, path: str) -> None:
    """Make a public checkpoint private again."""
    state.rest().unpublish_checkpoint_from_tinker_path(path).result()
    emit(f"Unpublished {path}")


@group.command("set-ttl")
@click.argument("path")
@click.option("--ttl", type=click.IntRange(min=1), metavar="SECONDS",
              help="Expire the checkpoint this many seconds from now.")
@click.option("--remove", is_flag=True, help="Remove the expiry (keep the checkpoint forever).")
@pass_state
def set_ttl(state: CliState, path: str, ttl: int | None, remove: bool) -> None:
    """Set or remove a checkpoint's expiry.

    Pass exactly one of --ttl SECONDS or --remove.
    """
    if (ttl is not None) == remove:
        raise click.UsageError("pass exactly one of --ttl SECONDS or --remove")
    state.rest().set_checkpoint_ttl_from_tinker_path(path, None if remove else ttl).result()
    emit(f"Removed the expiry of {path}" if remove else f"{path} now expires in {ttl} s")
