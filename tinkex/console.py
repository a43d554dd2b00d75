"""Links into the Tinker console (sessions, training runs, checkpoints, the playground).

The URLs are built locally: asking for one never makes a request.
:func:`console_base_url` is the one place that decides where the console lives.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

DEFAULT_CONSOLE_URL = "https://tinker.thinkingmachines.ai"


def console_base_url(server_config: Any = None) -> str:
    """Where the console lives: the server's client config may say (``console_url``)."""
    url = getattr(server_config, "console_url", None) if server_config is not None else None
    return str(url).rstrip("/") if url else DEFAULT_CONSOLE_URL


def session_url(session_id: str | None, base: str = DEFAULT_CONSOLE_URL) -> str:
    """A session's page (the list of sessions before one exists)."""
    return f"{base}/sessions/{session_id}" if session_id else f"{base}/sessions"


def training_run_url(training_run_id: str, base: str = DEFAULT_CONSOLE_URL) -> str:
    return f"{base}/training_runs/{training_run_id}"


def checkpoint_url(training_run_id: str, checkpoint_id: str,
                   base: str = DEFAULT_CONSOLE_URL) -> str:
    return f"{base}/checkpoints/{quote(training_run_id, safe='')}/{quote(checkpoint_id, safe='')}"


def playground_url(tinker_path: str, base: str = DEFAULT_CONSOLE_URL) -> str:
    """The playground, opened on the sampler checkpoint at ``tinker_path``."""
    return f"{base}/playground?mode=checkpoint&checkpoint={quote(tinker_path, safe='')}"
