"""Errors that handlers raise to answer with a status and a ``{"detail": ...}`` body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An expected failure: the client asked for something wrong, missing or not allowed."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str, ident: str) -> ApiError:
    """404 for both "does not exist" and "belongs to someone else" (no existence leak)."""
    return ApiError(404, f"{what} {ident!r} not found")


class ServerFailure(Exception):
    """A request that failed on the server's side; its future fails with category ``server``
    and this message (no traceback: it is expected, e.g. an injected fault)."""


class UserError(Exception):
    """A request that was accepted but cannot run; its future fails with category ``user``."""
