"""Rendering for the CLI: aligned tables, ``key: value`` blocks and stable JSON.

Everything here returns or prints plain text on stdout; messages meant for a
person watching (hints, progress) go to stderr through :func:`note`.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
from pydantic import BaseModel

FORMATS = ("table", "json")
_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; ``None`` (unknown) -> ``-``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in _SIZE_UNITS:
        if abs(value) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def timestamp(value: _dt.datetime | None) -> str:
    """ISO 8601 in UTC to the second (``2025-01-31T12:00:00Z``); ``-`` when absent."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc)
    return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def cell(value: Any) -> str:
    """A value as table text: timestamps ISO, booleans yes/no, enums by value, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, _dt.datetime):
        return timestamp(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in sorted(value.items())) or "-"
    return " ".join(str(value).split())  # one line per row, whatever the value holds


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = []
    for row in [list(headers), *text_rows]:
        padded = [value.ljust(widths[i]) for i, value in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """A ``key: value`` block with the values aligned."""
    width = max((len(k) for k, _ in pairs), default=0) + 1
    return "\n".join(f"{(k + ':').ljust(width)}  {cell(v)}".rstrip() for k, v in pairs)


def plain(value: Any) -> Any:
    """JSON-ready data: pydantic models through ``model_dump(mode="json")``, recursively."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Stable, machine-readable JSON: sorted keys, two-space indent, UTF-8 kept."""
    return json.dumps(plain(value), sort_keys=True, indent=2, ensure_ascii=False)


def emit(text: str) -> None:
    click.echo(text)


def note(text: str) -> None:
    """A message for the person at the terminal (stderr, so stdout stays parseable)."""
    click.echo(text, err=True)


__all__ = ["FORMATS", "cell", "emit", "fields", "human_size", "note", "plain", "table",
           "timestamp", "to_json"]
