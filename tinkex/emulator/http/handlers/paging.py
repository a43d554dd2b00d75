"""Offset/limit paging shared by the REST list handlers."""

from __future__ import annotations

from typing import Any

MAX_LIMIT = 1000


def page(params: dict[str, Any]) -> tuple[int, int]:
    """``(offset, limit)`` clamped to sane bounds (negative values are not errors, just 0)."""
    offset = max(0, int(params.get("offset") or 0))
    limit = max(0, min(MAX_LIMIT, int(params.get("limit") or 0)))
    return offset, limit
