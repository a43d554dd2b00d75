"""An in-process transport: each request goes straight to an ASGI application, no socket.

Plugged in where the HTTP transport would be (``Engine(..., transport=...)``;
httpx's ``ASGITransport`` is the model), for tests and tools that want a real
server application without a server process. The application runs on an event
loop in one thread that this transport owns: :meth:`close` stops and joins it.
A 2xx answer to :meth:`open` is read whole before it is returned (its events
then arrive at once). Headers, statuses and bodies are exactly the
application's; connect and read timeouts bound the whole exchange.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from .errors import APIConnectionError, APITimeoutError, ClientClosedError, RequestInfo
from .model.pools import Timeout
from .transport import Headers, QueryParams, Response, StreamedResponse
from .uploads import Upload

__all__ = ["ASGIApp", "ASGITransport"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


class _Answer:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []


class ASGITransport:
    """Sends requests to ``app`` in this process; safe to share between threads."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 50000),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- the loop -------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve, args=(loop,), daemon=True,
                                          name="tinkex-asgi-transport")
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self) -> None:
        """Stop the application's loop and join its thread; later requests raise."""
        with self._lock:
            self._closed = True
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's loop thread does not exist here; start afresh."""
        self._lock = threading.Lock()
        self._loop = self._thread = None

    # ---- requests ------------------------------------------------------------------------

    def request(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
                params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
                timeout: Timeout) -> Response:
        """Send once; the application's answer, fully read."""
        started = self._clock()
        answer = self._exchange(method, url, headers, params, content, timeout)
        assert answer.status is not None
        return Response(answer.status, Headers(answer.headers), b"".join(answer.body),
                        self._clock() - started, method, url)

    def open(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
             params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
             timeout: Timeout) -> Response | StreamedResponse:
        """Like :meth:`request`; a 2xx answer comes as a (fully read) streamed response."""
        response = self.request(pool, method, url, headers=headers, params=params,
                                content=content, timeout=timeout)
        if not response.ok:
            return response
        return _ReadStream(response)

    def _exchange(self, method: str, url: str, headers: Mapping[str, str | None],
                  params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
                  timeout: Timeout) -> _Answer:
        body = content.read_all() if isinstance(content, Upload) else (content or b"")
        scope = _scope(method, url, headers, params, len(body), self._client)
        loop = self._running_loop()
        call = asyncio.run_coroutine_threadsafe(self._call(scope, body), loop)
        try:
            return call.result(timeout.connect + timeout.read)
        except concurrent.futures.TimeoutError:
            call.cancel()
            raise APITimeoutError(f"{method} {url}: timed out (the application did not answer "
                                  f"within {timeout.connect + timeout.read:g} s)",
                                  request=RequestInfo(method, url)) from None
        except Exception as exc:  # the application failed, as a dropped connection would
            raise APIConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}",
                                     request=RequestInfo(method, url)) from exc

    async def _call(self, scope: Scope, body: bytes) -> _Answer:
        answer = _Answer()
        finished = asyncio.Event()
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = int(message["status"])
                answer.headers = [(k.decode("latin-1"), v.decode("latin-1"))
                                  for k, v in message.get("headers") or ()]
            elif message["type"] == "http.response.body":
                answer.body.append(bytes(message.get("body") or b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            await self._app(scope, receive, send)
        finally:
            finished.set()
        if answer.status is None:
            raise ConnectionError("the application closed the exchange without an answer")
        return answer


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:  # requests still in the application when the transport closed: cancelled
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())


def _scope(method: str, url: str, headers: Mapping[str, str | None],
           params: Mapping[str, Any] | QueryParams | None, length: int,
           client: tuple[str, int]) -> Scope:
    parts = urlsplit(url)
    query = urlencode(list(params.items()) if isinstance(params, Mapping) else params or [],
                      doseq=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sent = [(k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in headers.items() if v is not None]
    if not any(k == b"host" for k, _ in sent):
        sent.append((b"host", parts.netloc.encode("latin-1")))
    if length:
        sent.append((b"content-length", str(length).encode()))
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method.upper(), "scheme": parts.scheme or "http",
            "path": unquote(parts.path) or "/", "raw_path": (parts.path or "/").encode(),
            "query_string": query.encode(), "root_path": "", "headers": sent,
            "server": (parts.hostname or "localhost", port), "client": client}


class _ReadStream(StreamedResponse):
    """A streamed response whose body is already here (the in-process answer)."""

    def __init__(self, response: Response) -> None:  # no requests.Response behind it
        self.status = response.status
        self.headers = response.headers
        self.elapsed = response.elapsed
        self.method = response.method
        self.url = response.url
        self._redact = str
        self._content = response.content
        self._consumed = False
        self.closed = False

    def iter_bytes(self, chunk_size: int = 65536) -> Iterator[bytes]:
        if self._consumed:
            raise RuntimeError("the body of this streamed response was already read")
        self._consumed = True
        try:
            for start in range(0, len(self._content), chunk_size):
                yield self._content[start:start + chunk_size]
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
