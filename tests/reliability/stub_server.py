"""A loopback HTTP server whose every answer comes from one Python function.

Hostile-server tests use it: a server that echoes the credentials it was sent,
answers 200 with something that is not JSON, leaves out required fields, or
answers "not ready" at once. ``answer(path, headers, body)`` returns
``(status, headers, body)``; ``None`` drops the connection without answering.
Every request is counted by path. ``close()`` joins the server's threads.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes] | None
Answerer = Callable[[str, dict[str, str], bytes], Answer]


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer()

    def do_GET(self) -> None:  # noqa: N802
        self._answer()

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer()

    def do_PUT(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        owner = self.server.owner
        owner.count(path)
        answer = owner.answer(path, {k.lower(): v for k, v in self.headers.items()}, body)
        if answer is None:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status, headers, content = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: StubServer


class StubServer:
    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="stub-server")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
