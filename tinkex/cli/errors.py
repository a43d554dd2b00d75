"""Turn the failures a user can cause or meet into one ``Error: ...`` line.

Anything listed here is expected (a bad path, a 404, a refused connection, a
missing key, an existing download directory) and never shows a traceback;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from typing import Any

from tinkex.checkpoints import UnsafeArchiveError
from tinkex.core.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigError,
    RequestFailedError,
    SDKError,
)
from tinkex.paths import TinkerPathError
from tinkex.tokenizers import TokenizerUnavailableError

EXPECTED: tuple[type[BaseException], ...] = (
    SDKError, TinkerPathError, TokenizerUnavailableError, UnsafeArchiveError, FileExistsError,
)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _detail(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def describe(exc: BaseException, base_url: str) -> str:
    """The one-line message (without the ``Error:`` prefix) for an expected failure."""
    if isinstance(exc, APIStatusError):
        detail = _detail(exc.body) or str(exc)
        return one_line(f"{detail} (HTTP {exc.status_code})")
    if isinstance(exc, APITimeoutError):
        return one_line(f"the Tinker API at {base_url} did not answer in time")
    if isinstance(exc, APIConnectionError):
        match = _ERRNO.search(str(exc))
        reason = match.group(1).strip() if match else str(exc)
        return one_line(f"cannot reach the Tinker API at {base_url}: {reason}")
    if isinstance(exc, RequestFailedError):
        category = getattr(exc.category, "value", exc.category)
        return one_line(f"request {exc.request_id} failed ({category}): {exc.message}")
    if isinstance(exc, ConfigError):  # name the CLI's flag, not the Python argument
        return one_line(str(exc).replace("the api_key argument", "--api-key"))
    return one_line(str(exc))


__all__ = ["EXPECTED", "describe", "one_line"]
