"""``tinkex session ...``: server sessions (the runs and samplers a client created)."""

from __future__ import annotations

import click

from .context import (
    CliState,
    emit_listing,
    format_option,
    limit_option,
    page_size,
    pass_state,
)
from .output import emit, fields, table, to_json


@click.group("session")
def group() -> None:
    """Inspect sessions."""


@group.command("list")
@limit_option("sessions")
@format_option
@pass_state
def list_sessions(state: CliState, limit: int, fmt: str) -> None:
    """List your session ids."""
    ids = state.rest().iter_sessions(page_size=page_size(limit))
    emit_listing(fmt, "sessions", ids, limit,
                 lambda shown: table(("SESSION ID",), [(i,) for i in shown]))


@group.command("info")
@click.argument("session_id")
@format_option
@pass_state
def info(state: CliState, session_id: str, fmt: str) -> None:
    """Show the training runs and samplers of a session."""
    session = state.rest().get_session(session_id).result()
    if fmt == "json":
        emit(to_json({"session_id": session_id, **session.model_dump(mode="json")}))
        return
    emit(fields([("Session ID", session_id), ("Display name", session.display_name),
                 ("Training runs", session.training_run_ids), ("Samplers", session.sampler_ids),
                 ("Metadata", session.user_metadata)]))
