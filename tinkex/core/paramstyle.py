"""Parameter values on the wire, as OpenAPI's ``style`` and ``explode`` say.

path: ``simple`` (default), ``label``, ``matrix``; query: ``form`` (default),
``spaceDelimited``, ``pipeDelimited``, ``deepObject``; header: ``simple``;
cookie: ``form``. ``explode`` defaults to true for ``form`` and false otherwise.
Scalars are written the JSON way (``true``/``false``, enums by value); arrays
and objects (mappings or pydantic models) as the style spells them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pydantic

DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}


def default_explode(style: str) -> bool:
    return style == "form"


def scalar(value: Any) -> str:
    """One scalar as text: booleans in lower case, enums by value, None as empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return scalar(value.value)
    if value is None:
        return ""
    return str(value)


def _plain(value: Any) -> Any:
    """Models as mappings, tuples and sets as lists, everything else as it is."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return value


def _pairs(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), scalar(v)) for k, v in value.items() if v is not None]


def path_value(name: str, value: Any, style: str = "simple", explode: bool = False) -> str:
    """The text that replaces ``{name}`` in a path template (percent-encoded)."""
    value = _plain(value)

    def enc(text: str) -> str:
        return quote(text, safe="")

    if isinstance(value, list):
        items = [enc(scalar(v)) for v in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            if explode:
                return "".join(f";{name}={v}" for v in items)
            return f";{name}=" + ",".join(items)
        return ",".join(items)
    if isinstance(value, Mapping):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value)]
        joined = [f"{k}={v}" for k, v in pairs] if explode else [x for kv in pairs for x in kv]
        if style == "label":
            return "." + ("." if explode else ",").join(joined)
        if style == "matrix":
            return "".join(f";{kv}" for kv in joined) if explode else f";{name}=" + ",".join(joined)
        return ",".join(joined)
    text = enc(scalar(value))
    if style == "label":
        return "." + text
    if style == "matrix":
        return f";{name}={text}"
    return text


def query_pairs(name: str, value: Any, style: str = "form",
                explode: bool = True) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of one query parameter (requests percent-encodes them)."""
    value = _plain(value)
    if value is None:
        return []
    if style == "deepObject":
        return _deep(name, value)
    if isinstance(value, list):
        items = [scalar(v) for v in value if v is not None]
        if explode:
            return [(name, v) for v in items]
        sep = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        return [(name, sep.join(items))]
    if isinstance(value, Mapping):
        pairs = _pairs(value)
        if explode:
            return pairs
        return [(name, ",".join(x for kv in pairs for x in kv))]
    return [(name, scalar(value))]


def _deep(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            if v is not None:
                out += _deep(f"{prefix}[{k}]", _plain(v))
        return out
    if isinstance(value, list):
        return [(f"{prefix}[]", scalar(v)) for v in value]
    return [(prefix, scalar(value))]


def header_value(value: Any, explode: bool = False) -> str:
    """A header's text (style ``simple``)."""
    value = _plain(value)
    if isinstance(value, list):
        return ",".join(scalar(v) for v in value)
    if isinstance(value, Mapping):
        pairs = _pairs(value)
        if explode:
            return ",".join(f"{k}={v}" for k, v in pairs)
        return ",".join(x for kv in pairs for x in kv)
    return scalar(value)


def cookie_pairs(name: str, value: Any, explode: bool = True) -> list[tuple[str, str]]:
    """``(name, value)`` cookies of one cookie parameter (style ``form``)."""
    value = _plain(value)
    if isinstance(value, list):
        items = [scalar(v) for v in value]
        return [(name, v) for v in items] if explode else [(name, ",".join(items))]
    if isinstance(value, Mapping):
        pairs = _pairs(value)
        return pairs if explode else [(name, ",".join(x for kv in pairs for x in kv))]
    return [(name, scalar(value))]


def cookie_header(pairs: list[tuple[str, str]]) -> str:
    """A ``Cookie`` header from pairs; values are percent-encoded (a cookie allows no ``;`` or space)."""
    return "; ".join(f"{k}={quote(v, safe='')}" for k, v in pairs)
