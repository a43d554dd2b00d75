"""A loopback HTTP proxy that records traffic between a client and a real server.

Tests point a client at :attr:`RecordingProxy.url`; every exchange is forwarded
unchanged to ``upstream`` and recorded (request headers and raw body, response
status, headers and raw body), so a test can check what really went over the
wire: content types, compression, protobuf bodies. ``rewrite_request`` may
change a request's headers before it is forwarded (e.g. to make the server
answer JSON although the client asked for protobuf).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "proxy-connection", "te", "upgrade"}


@dataclass
class Exchange:
    path: str
    request_headers: dict[str, str]  # lower-case names, as forwarded
    request_body: bytes
    status: int
    response_headers: dict[str, str]  # lower-case names
    response_body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pools expect
    disable_nagle_algorithm = True  # no ~40 ms delayed-ACK stall between header and body writes
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._forward()

    def do_GET(self) -> None:  # noqa: N802
        self._forward()

    def do_DELETE(self) -> None:  # noqa: N802
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        owner = self.server.owner
        if owner.rewrite_request is not None:
            headers = owner.rewrite_request(self.path, headers)
        upstream = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port,
                                              timeout=120)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            content = response.read()
            reply_headers = {k.lower(): v for k, v in response.getheaders()
                             if k.lower() not in _HOP_BY_HOP}
            status = response.status
        finally:
            upstream.close()
        owner.record(Exchange(self.path, headers, body, status, reply_headers, content))
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingProxy


class RecordingProxy:
    """Forward to ``upstream`` (``http://host:port``) and record every exchange."""

    def __init__(self, upstream: str,
                 rewrite_request: Callable[[str, dict[str, str]], dict[str, str]] | None = None):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rewrite_request = rewrite_request
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="recording-proxy")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def to(self, path: str) -> list[Exchange]:
        """The exchanges with ``path`` (e.g. ``/api/v1/forward_backward``), in arrival order."""
        with self._lock:
            return [e for e in self.exchanges if e.path == path]

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
