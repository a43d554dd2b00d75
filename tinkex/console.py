"""Links into the Tinker console (sessions, training runs, checkpoints, the playground).

:func:`console_base_url` is the one place that decides where the console lives:
the server's client config may say (``console_url``; the tinkex emulator answers
with a sign-in link to its own console), else the hosted console. The paths
below are the console's own, so one base serves both.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
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


def _fixed(url: str) -> ConsoleBase:
    base = ConsoleBase()
    base._url = url
    return base


class ConsoleBase:
    """One client's console base URL, looked up when a link is first asked for.

    Save results carry one, so their links point where their client's server
    says without a request until a link is wanted. It holds its client weakly,
    pickles as the URL it stands for, and never makes two results unequal.
    """

    def __init__(self, lookup: Callable[[], str] | None = None) -> None:
        self._lookup = None if lookup is None else weakref.WeakMethod(lookup)
        self._url: str | None = None if lookup is not None else DEFAULT_CONSOLE_URL

    @property
    def url(self) -> str:
        if self._url is None:
            lookup = self._lookup() if self._lookup is not None else None
            self._url = lookup() if lookup is not None else DEFAULT_CONSOLE_URL
        return self._url

    def __reduce__(self) -> tuple[Any, ...]:
        return _fixed, (self.url,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConsoleBase)

    def __hash__(self) -> int:
        return 0
