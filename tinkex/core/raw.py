"""Raw responses: an operation's HTTP response with the details of the call that produced it.

``api.<group>.with_raw_response.<method>(...)`` (and
``api.with_raw_response.<group>.<method>(...)``) make the same call as the plain
method and return a :class:`RawResponse` instead of the parsed result: status,
headers, URL, time spent and attempts made, the body as bytes, text or JSON, and
:meth:`RawResponse.parse` for the typed result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from .retry import RetryReport
from .transport import Headers, Response

T = TypeVar("T")


class _Head(Protocol):
    """What both kinds of response have before their body is read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def url(self) -> str: ...

    @property
    def method(self) -> str: ...


H = TypeVar("H", bound=_Head)


class CallResponse(Generic[H]):
    """The status line and headers of one logical call's last attempt, and what the call took."""

    __slots__ = ("_response", "_report", "operation_id")

    def __init__(self, operation_id: str, response: H, report: RetryReport) -> None:
        self.operation_id = operation_id
        self._response = response
        self._report = report

    @property
    def status_code(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Headers:
        """Case-insensitive response headers."""
        return self._response.headers

    @property
    def url(self) -> str:
        """The URL that answered, without its query string."""
        return self._response.url

    @property
    def method(self) -> str:
        return self._response.method

    @property
    def elapsed(self) -> float:
        """Seconds the call took, every attempt and the waits between them included: until
        the body was read, or for a streamed response until its headers arrived."""
        return self._report.elapsed

    @property
    def attempts(self) -> int:
        """Attempts made (1 when the first one succeeded)."""
        return self._report.attempts

    @property
    def retries_taken(self) -> int:
        return self._report.attempts - 1


class RawResponse(CallResponse[Response], Generic[T]):
    """A fully read response of one logical call (its last attempt), parsed on demand."""

    __slots__ = ("_parse", "_parsed")

    def __init__(self, operation_id: str, response: Response, report: RetryReport,
                 parse: Callable[[Response], T]) -> None:
        super().__init__(operation_id, response, report)
        self._parse = parse
        self._parsed: list[T] = []

    @property
    def content(self) -> bytes:
        return self._response.content

    @property
    def text(self) -> str:
        return self._response.text

    def json(self) -> Any:
        return self._response.json()

    def read(self) -> bytes:
        """The body (already read: raw responses are never streamed)."""
        return self._response.content

    def parse(self) -> T:
        """The typed result, parsed once (APIResponseValidationError if it does not fit).

        For an operation that answers with a future handle, the handle: the
        plain method is the one that polls for the result.
        """
        if not self._parsed:
            self._parsed.append(self._parse(self._response))
        return self._parsed[0]

    def __repr__(self) -> str:
        return (f"<RawResponse {self.operation_id}: {self.method} {self.url} {self.status_code}, "
                f"{self.attempts} attempt(s), {self.elapsed:.3f} s>")
