"""Keep credentials out of reprs, logs and error messages.

A credential is redacted wherever it could surface: as a header value (by header
name), inside free text (by value: server error bodies sometimes echo what they
were sent) and in the repr of the object that holds it (:class:`Secret`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "(redacted)"
MIN_SECRET_LENGTH = 4
"""Shorter values are not searched for in free text: they would garble every message."""


def mask(value: str) -> str:
    """A safe display form: at most a 4-character prefix (less for short values) and a marker."""
    shown = value[: min(4, len(value) // 4)]
    return f"{shown}…{REDACTED}"


class Secret(str):
    """A ``str`` that can be sent as is but never shows itself in a repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask(str.__str__(self)))


def redact_headers(headers: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """A copy of ``headers`` with the value of every secret header (any case) masked."""
    secret = {name.lower() for name in secret_names}
    return {k: (mask(v) if k.lower() in secret else v) for k, v in headers.items()}


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each known secret value masked."""
    for value in secrets:
        if len(value) >= MIN_SECRET_LENGTH and value in text:
            text = text.replace(value, mask(value))
    return text


class Redactor:
    """The secrets of one client (values and header names), applied to headers and text."""

    __slots__ = ("_values", "_names")

    def __init__(self, values: Iterable[str] = (), header_names: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self._values = tuple(sorted({str.__str__(v) for v in values if v}, key=len, reverse=True))
        self._names = frozenset(name.lower() for name in header_names)

    def remember(self, value: str) -> None:
        """Also mask ``value`` from now on (a credential obtained at run time, e.g. a token)."""
        if value and value not in self._values:
            self._values = tuple(sorted({*self._values, str.__str__(value)}, key=len,
                                        reverse=True))

    @property
    def header_names(self) -> frozenset[str]:
        return self._names

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return redact_headers(headers, self._names)

    def text(self, text: str) -> str:
        return redact_text(text, self._values)

    def content(self, data: bytes) -> bytes:
        """Raw bytes (a response body) with every secret's UTF-8 form masked."""
        for value in self._values:
            raw = value.encode()
            if len(value) >= MIN_SECRET_LENGTH and raw in data:
                data = data.replace(raw, mask(value).encode())
        return data

    def value(self, value: Any) -> Any:
        """A JSON-like value (a parsed error body) with secrets masked in every string."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.content(value)
        if isinstance(value, Mapping):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def all_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with secret names masked and secret values masked wherever they appear."""
        return {k: self.text(v) for k, v in self.headers(headers).items()}

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} secret value(s), headers={sorted(self._names)})"
