"""The outcomes every layer of the emulator may raise, and what each becomes.

:class:`HTTPProblem` is answered at once with its status and a ``{"detail": ...}``
body (by :mod:`tinkex.emulator.http.app`); :class:`UserError` and
:class:`ServerFailure` fail a request's future with category ``user`` or
``server``. They are plain exceptions, so state and compute raise them without
importing anything of the HTTP layer. (``HTTPProblem`` is the server's side of
an answer; the client's exceptions are :mod:`tinkex.core.errors`.)
"""

from __future__ import annotations

from typing import Any


class HTTPProblem(Exception):
    """An expected failure: the client asked for something wrong, missing or not allowed."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str, ident: str) -> HTTPProblem:
    """404 for both "does not exist" and "belongs to someone else" (no existence leak)."""
    return HTTPProblem(404, f"{what} {ident!r} not found")


class ServerFailure(Exception):
    """A request that failed on the server's side; its future fails with category ``server``
    and this message (no traceback: it is expected, e.g. an injected fault)."""


class UserError(Exception):
    """A request that was accepted but cannot run; its future fails with category ``user``."""
