"""HTTP transport: one requests ``Session`` per connection pool, and the values it returns.

Design choices, each for a reason:

* The adapter never retries (``max_retries=0``): the one retry loop lives in
  ``retry.py`` and is driven by the document.
* Every request carries a ``(connect, read)`` timeout: requests has no default
  and would otherwise wait for ever.
* Sessions are configured once and then only read: headers travel with each
  request, cookies are refused, so threads can share a session safely.
* The environment (proxies, CA bundle) is honoured, but read once per pool
  instead of on every request, where requests' ``trust_env`` lookups cost about
  0.3 ms a call. A client sees environment changes made before it first uses a
  pool. (``.netrc`` credentials are not used: the API has its own.)
* A request is prepared and handed to the adapter directly when the session
  adds nothing of its own (no hooks, no auth, no cookies): requests' general
  ``Session.request`` merges settings, cookies and hooks on every call, which
  costs as much CPU as the HTTP exchange on loopback. Any other session goes
  through ``Session.request`` unchanged.
* Redirects are not followed: requests would forward custom credential headers
  to another host. A 3xx comes back as a response.
* Response bodies are read completely before returning, so no connection is
  left checked out of its pool; after a failure, the frames that still hold the
  broken connection's socket are cleared so it closes at once, not at the next
  garbage collection.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from .errors import APIConnectionError, APITimeoutError, ClientClosedError, RequestInfo
from .model.pools import PoolSpec as PoolSpec
from .model.pools import Timeout as Timeout
from .redact import Redactor
from .uploads import Upload

QueryParams = list[tuple[str, str]]
"""Query parameters as ready ``(name, value)`` pairs (a name may repeat)."""


class HTTPTransport(Protocol):
    """The seam under the engine: what sends one request (httpx's ``BaseTransport``).

    :class:`Transport` sends over requests' connection pools;
    :class:`tinkex.core.asgi.ASGITransport` hands requests to an application in
    this process. Failures raise APIConnectionError / APITimeoutError, never the
    underlying library's exceptions.
    """

    def request(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
                params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
                timeout: Timeout) -> Response: ...

    def open(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
             params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
             timeout: Timeout) -> Response | StreamedResponse: ...

    def close(self) -> None: ...

    def reset_after_fork(self) -> None: ...


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive response headers."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = {k.lower(): (k, v) for k, v in items}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self._items.values())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (tuple(self._items.values()),))


@dataclass(frozen=True)
class Response:
    """One HTTP response, fully read. ``url`` has no query string (it may carry secrets)."""

    status: int
    headers: Headers
    content: bytes
    elapsed: float
    method: str
    url: str

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(self._charset(), errors="replace")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def _charset(self) -> str:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    def __repr__(self) -> str:
        return f"<Response {self.method} {self.url} {self.status} ({len(self.content)} bytes)>"

    def redacted(self, redactor: Redactor) -> Response:
        """A copy safe to keep in an error: secrets masked in the body and the headers."""
        return Response(self.status, Headers(redactor.all_headers(self.headers).items()),
                        redactor.content(self.content), self.elapsed, self.method,
                        redactor.text(self.url))


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """An API client keeps no cookies: they would be state shared by every thread."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


# Everything requests, urllib3 and the socket layer may raise while sending or reading.
_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
_TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError,
                     http.client.HTTPException, OSError)
_FAILURES = _TIMEOUTS + _TRANSPORT_ERRORS


def _failure(exc: BaseException, method: str, url: str, redact: Callable[[str], str],
             timed_out: str = "timed out", broke: str = "") -> APIConnectionError:
    """Our error for a transport failure: APITimeoutError for a timeout, else APIConnectionError.

    ``timed_out`` / ``broke`` say what was happening (``broke`` empty: just the cause).
    The failure's frames are released first (see :func:`_release_frames`).
    """
    _release_frames(exc)
    request = RequestInfo(method, url)
    if isinstance(exc, _TIMEOUTS):
        return APITimeoutError(redact(f"{method} {url}: {timed_out} ({_describe(exc)})"),
                               request=request)
    what = f"{broke} ({_describe(exc)})" if broke else _describe(exc)
    return APIConnectionError(redact(f"{method} {url}: {what}"), request=request)


def _release_frames(exc: BaseException | None) -> None:
    """Clear the frame locals of a failure's tracebacks (the tracebacks stay readable),
    and drop the request and response a requests exception holds.

    Those frames hold the failed connection's socket file; exception reference
    cycles would keep it open until the garbage collector runs. The prepared
    request holds the credential headers, and the failure stays reachable as
    our error's ``__cause__``.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        if isinstance(exc, requests.RequestException):
            exc.request = exc.response = None
        exc = exc.__cause__ or exc.__context__


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _body(content: bytes | Upload | None) -> Any:
    """What requests sends: bytes as they are, an upload as a fresh reader (streamed)."""
    return content.open() if isinstance(content, Upload) else content


def new_session(pool: PoolSpec) -> requests.Session:
    """A session whose single adapter keeps ``pool.connections`` connections and never retries."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool.connections, max_retries=0,
                          pool_block=False)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.cookies.set_policy(_NoCookies())
    return session


@dataclass(frozen=True)
class _Pool:
    session: requests.Session
    env: Mapping[str, Any]  # proxies / verify / cert, read from the environment once
    plain: bool  # the session adds nothing per request: prepare and send through the adapter

    def send(self, method: str, url: str, headers: Mapping[str, str | None],
             params: Mapping[str, Any] | QueryParams | None, data: Any,
             timeout: tuple[float, float], stream: bool) -> requests.Response:
        env = self.env
        session = self.session
        if not self.plain:
            return session.request(
                method, url, params=params, data=data, headers=headers, timeout=timeout,
                allow_redirects=False, stream=stream, proxies=env["proxies"],
                verify=env["verify"], cert=env["cert"])
        # What Session.request would send: the session's headers under the request's
        # (a None value drops the header), the same URL, body and Content-Length.
        merged = CaseInsensitiveDict(session.headers)
        for name, value in headers.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        prepared = PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, params or None)  # None: no per-call Protocol checks
        prepared.prepare_headers(merged)
        prepared.prepare_body(data if data is not None else [], None, None)
        prepared.prepare_auth(None, url)
        prepared.prepare_hooks({})
        full_url = prepared.url or url
        # Plain HTTP verifies nothing; a CA bundle path (REQUESTS_CA_BUNDLE) would still
        # cost the adapter a stat() per request to tell a file from a directory.
        verify = env["verify"] if full_url.startswith("https:") else True
        adapter = session.get_adapter(full_url)
        return adapter.send(prepared, stream=stream, timeout=timeout, verify=verify,
                            cert=env["cert"], proxies=env["proxies"])


def _plain(session: requests.Session) -> bool:
    """Whether a session adds nothing to a request but its headers (and the adapters)."""
    return (type(session) is requests.Session and session.auth is None
            and not any(session.hooks.values()) and not session.params
            and len(session.cookies) == 0
            and isinstance(session.cookies.get_policy(), _NoCookies))


class Transport:
    """Sends requests through lazily created per-pool sessions; safe to share between threads."""

    def __init__(self, pools: Mapping[str, PoolSpec], base_url: str, *,
                 session_factory: Callable[[PoolSpec], requests.Session] = new_session,
                 clock: Callable[[], float] = time.monotonic,
                 redact: Callable[[str], str] = str) -> None:
        self._specs = dict(pools)
        self._redact = redact
        self._base_url = base_url
        self._session_factory = session_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._pools: dict[str, _Pool] = {}
        self._closed = False

    def _pool(self, name: str) -> _Pool:
        pool = self._pools.get(name)
        if pool is not None:
            return pool
        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed")
            pool = self._pools.get(name)
            if pool is None:
                session = self._session_factory(self._specs[name])
                env = session.merge_environment_settings(self._base_url, {}, None, None, None)
                session.trust_env = False
                pool = self._pools[name] = _Pool(session, env, _plain(session))
            return pool

    def request(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
                params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
                timeout: Timeout) -> Response:
        """Send once; raise APIConnectionError / APITimeoutError for any transport failure.

        A header whose value is None is not sent.
        """
        if self._closed:
            raise ClientClosedError("the client is closed")
        target = self._pool(pool)
        started = self._clock()
        try:
            raw = target.send(method, url, headers, params, _body(content),
                              (timeout.connect, timeout.read), False)
            try:
                body = raw.content
            finally:
                raw.close()
        except _FAILURES as exc:
            raise _failure(exc, method, url, self._redact) from exc
        return Response(raw.status_code, Headers(raw.headers.items()), body,
                        self._clock() - started, method, url)

    def open(self, pool: str, method: str, url: str, *, headers: Mapping[str, str | None],
             params: Mapping[str, Any] | QueryParams | None, content: bytes | Upload | None,
             timeout: Timeout) -> Response | StreamedResponse:
        """Send once and return as soon as the headers are in: a 2xx body is left to stream.

        Any other status is read completely and returned as a :class:`Response`
        (the retry loop and the error mapping treat it like any other).
        """
        if self._closed:
            raise ClientClosedError("the client is closed")
        target = self._pool(pool)
        started = self._clock()
        try:
            raw = target.send(method, url, headers, params, _body(content),
                              (timeout.connect, timeout.read), True)
            if not 200 <= raw.status_code < 300:
                try:
                    body = raw.content
                finally:
                    raw.close()
                return Response(raw.status_code, Headers(raw.headers.items()), body,
                                self._clock() - started, method, url)
        except _FAILURES as exc:
            raise _failure(exc, method, url, self._redact) from exc
        return StreamedResponse(raw, self._clock() - started, method, url, self._redact)

    def close(self) -> None:
        """Close every pool's connections; later requests raise ClientClosedError."""
        with self._lock:
            self._closed = True
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.session.close()

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's connections (without closing the shared sockets)."""
        self._lock = threading.Lock()
        self._pools = {}


class StreamedResponse:
    """A 2xx response whose body is read as it arrives; close it (or read it to the end).

    Reading raises APIConnectionError / APITimeoutError when the connection
    breaks or stalls mid-body; the connection is released on close.
    """

    def __init__(self, raw: requests.Response, elapsed: float, method: str, url: str,
                 redact: Callable[[str], str] = str) -> None:
        self._raw = raw
        self.status = raw.status_code
        self.headers = Headers(raw.headers.items())
        self.elapsed = elapsed
        """Seconds until the headers arrived."""
        self.method = method
        self.url = url
        self._redact = redact
        self._consumed = False
        self.closed = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def iter_bytes(self, chunk_size: int = 65536) -> Iterator[bytes]:
        """The body in pieces as they arrive (each piece as soon as the network delivers it)."""
        if self._consumed:
            raise RuntimeError("the body of this streamed response was already read")
        self._consumed = True
        source = self._raw.raw
        try:
            while True:
                # read1: whatever has arrived (at most chunk_size), without waiting for more.
                chunk = source.read1(chunk_size, decode_content=True)
                if not chunk:
                    break
                yield chunk
        except _FAILURES as exc:
            raise _failure(exc, self.method, self.url, self._redact,
                           "timed out while streaming", "the stream broke") from exc
        finally:
            self.close()

    def read(self) -> bytes:
        """The rest of the body, at once."""
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        """Release the connection (dropped, if the body was not read to its end)."""
        if not self.closed:
            self.closed = True
            self._raw.close()

    def __repr__(self) -> str:
        return f"<StreamedResponse {self.method} {self.url} {self.status}>"
