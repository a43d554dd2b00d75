"""Streaming responses: Server-Sent Events and newline-delimited JSON, decoded as they arrive.

An operation with ``x-tinkex-stream`` (``format: sse | ndjson``, ``event``: the
type of each event) returns a :class:`Stream` from its plain method: an
iterator of parsed events that reads the body incrementally, so the first event
is in the caller's hands as soon as the server has sent it. The request is
retried by the operation's policy until the first byte of a 2xx body; after
that a broken connection raises APIConnectionError (a stream cannot be resent
from its middle). Leaving the iteration early (``break``, an exception, a
``with`` block, ``close()``, or dropping the stream) releases the connection.

``with_streaming_response`` gives the response itself before its body is read
(:class:`StreamedRawResponse`), for any operation: headers first, then
``iter_bytes`` / ``iter_lines`` / ``iter_text``, or ``parse()``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .raw import CallResponse
from .retry import RetryReport
from .transport import Response, StreamedResponse

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a ``text/event-stream`` body."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines (without their ending) of a byte stream, each as soon as it is complete.

    Accepts ``\\n``, ``\\r\\n`` and ``\\r`` endings, across chunk boundaries.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.splitlines(keepends=True)
        pending = b""
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if i == last and (line.endswith(b"\r") or not line.endswith(b"\n")):
                pending = line  # unfinished, or a \r that may be the first half of \r\n
            else:
                yield line.rstrip(b"\r\n")
    if pending:
        yield pending.rstrip(b"\r\n")


class SSEDecoder:
    """The event-stream parsing rules of the HTML standard, one line at a time."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def line(self, line: str) -> ServerSentEvent | None:
        """Feed one line; the event it completes (at a blank line), if any."""
        if not line:
            if not self._data:  # no data: nothing to dispatch (the standard's rule)
                self._event = ""
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data),
                                    self._id, self._retry)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value or None
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def events(self, chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        for raw in iter_lines(chunks):
            event = self.line(decode(raw))
            if event is not None:
                yield event
        final = self.line("")  # an unterminated last event still counts
        if final is not None:
            yield final


def decode_events(fmt: str, chunks: Iterable[bytes], parse: Callable[[bytes], T], *,
                  error_event: str | None = None,
                  on_error: Callable[[ServerSentEvent], BaseException] | None = None
                  ) -> Iterator[T]:
    """Typed events of a body in ``fmt`` (``sse`` or ``ndjson``), parsed by ``parse``.

    An SSE event named ``error_event`` raises ``on_error(event)`` instead.
    """
    if fmt == "ndjson":
        for line in iter_lines(chunks):
            if line.strip():
                yield parse(line)
        return
    for event in SSEDecoder().events(chunks):
        if error_event is not None and event.event == error_event:
            raise (on_error(event) if on_error is not None
                   else RuntimeError(f"the stream reported an error: {event.data}"))
        yield parse(event.data.encode())


class Stream(Generic[T]):
    """An iterator of decoded events over a response read as it arrives; closes when done."""

    def __init__(self, events: Iterator[T], response: StreamedResponse | Response,
                 report: RetryReport, close: Callable[[], None]) -> None:
        self._events = events
        self.response = response
        """The response the events come from (status, headers, url)."""
        self.attempts = report.attempts
        self._close = close
        self.closed = False

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        if self.closed:
            raise StopIteration
        try:
            return next(self._events)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and release the connection (safe to call more than once)."""
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Stream {self.response.method} {self.response.url} ({state})>"


class StreamedRawResponse(CallResponse[StreamedResponse], Generic[R]):
    """``with_streaming_response``: the response once its headers are in, its body unread.

    Use it in a ``with`` block (which releases the connection); read the body
    with :meth:`iter_bytes`, :meth:`iter_lines`, :meth:`iter_text` or
    :meth:`read`, or :meth:`parse` it (a :class:`Stream` of events for a
    streaming operation, else the typed result).
    """

    __slots__ = ("_parse",)

    def __init__(self, operation_id: str, response: StreamedResponse, report: RetryReport,
                 parse: Callable[[StreamedResponse], R]) -> None:
        super().__init__(operation_id, response, report)
        self._parse = parse

    @property
    def is_closed(self) -> bool:
        return self._response.closed

    def iter_bytes(self, chunk_size: int = 65536) -> Iterator[bytes]:
        return self._response.iter_bytes(chunk_size)

    def iter_lines(self) -> Iterator[str]:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        return (decode(line) for line in iter_lines(self._response.iter_bytes()))

    def iter_text(self) -> Iterator[str]:
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        return (text for chunk in self._response.iter_bytes() if (text := decode(chunk)))

    def read(self) -> bytes:
        return self._response.read()

    def parse(self) -> R:
        return self._parse(self._response)

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> StreamedRawResponse[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<StreamedRawResponse {self.operation_id}: {self.method} {self.url} "
                f"{self.status_code}>")
