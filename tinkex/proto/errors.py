"""The codec's one error type, and the two places where failures are turned into it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from pydantic import ValidationError

M = TypeVar("M", bound=Message)


class ProtoDecodeError(ValueError):
    """A protobuf payload (or its compression) is malformed, or uses a value we do not know.

    A ``ValueError`` so callers that treat "bad payload" generically keep
    working; servers answer it with 400, clients surface it as a decode failure.
    """


def parse_message(message: M, data: bytes, what: str) -> M:
    """``message`` filled from ``data``; a decode error names ``what`` was being read."""
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ProtoDecodeError(f"{what} is not a valid protobuf message: {e}") from None
    return message


def validated(build: Callable[[], Any], what: str) -> Any:
    """Run a pydantic constructor, reporting a bad value as a decode error."""
    try:
        return build()
    except ValidationError as e:
        first = e.errors()[0]
        raise ProtoDecodeError(f"{what}: {first['loc']}: {first['msg']}") from None
