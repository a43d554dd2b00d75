"""Test helpers for the background parts of the core: a loopback HTTP server and a small API.

:class:`LoopbackServer` is a real ``ThreadingHTTPServer`` on 127.0.0.1 (random
port, TCP_NODELAY, HTTP/1.1 keep-alive) whose routes are Python functions. It
records every request, and ``close()`` releases held long polls, drops open
connections and joins every thread it started, so tests can assert that no
thread outlives them.

``kennel()`` compiles a small manifest unrelated to Tinker (with futures,
session, telemetry, sequencing and a dispatch limit, all under different
names and headers) into a document and models, once per process.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from tinkex.codegen.build import build
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine, EngineHooks
from tinkex.core.model.operations import OperationTable

KEY = "kn-CANARY-0123456789"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (and return it); fail after ``timeout`` seconds.

    Tests synchronise on conditions, never on a guessed sleep: the wait ends as
    soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


# ---- the server ---------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() when it arrived
    query: str = ""  # the raw query string

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    stream: Iterable[bytes] | None = None
    """Sent with chunked transfer encoding, one chunk per item, each flushed at once.
    An item that is :data:`DROP` drops the connection there, mid-body."""


DROP = b"<drop the connection>"


Handler = Callable[[Request], Reply]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), name="loopback-conn", daemon=True)
        with self.lock:
            self.connections.add(request)
            self.threads.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (a killed subprocess, a closed pool) is not a test failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _HTTPServer

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = Request(self.command, self.path.split("?")[0],
                          {k.lower(): v for k, v in self.headers.items()},
                          self.rfile.read(length), time.monotonic(),
                          self.path.partition("?")[2])
        reply = self.server.owner._dispatch(request)
        if reply.stream is not None:
            self._stream(reply)
            return
        body = reply.body
        if body is None:
            data = b""
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        self.send_response(reply.status)
        if data:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in reply.stream or ():
                if chunk is DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading: fine

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackServer:
    """Routes ``(method, path)`` to handlers; unknown routes answer 404."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self.closing = threading.Event()
        """Set by :meth:`close`: handlers that hold a request (long polls) wait on it."""
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(self)
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, name="loopback-serve",
                                        daemon=True)
        self._thread.start()

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def script(self, method: str, path: str, replies: Sequence[Reply | Handler]) -> None:
        """Answer with ``replies`` in order, repeating the last one."""
        remaining = list(replies)
        lock = threading.Lock()

        def handler(request: Request) -> Reply:
            with lock:
                reply = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return reply(request) if callable(reply) else reply

        self.route(method, path, handler)

    def received(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
        handler = self.routes.get((request.method, request.path))
        return handler(request) if handler else Reply(404, {"detail": "no route"})

    def close(self) -> None:
        """Release held requests, stop serving, drop connections, join every thread."""
        self.closing.set()
        self._httpd.shutdown()
        self._thread.join()
        with self._httpd.lock:
            connections = list(self._httpd.connections)
            threads = list(self._httpd.threads)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(5)
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serving() -> Iterator[LoopbackServer]:
    """Body of a pytest fixture: a server for one test."""
    server = LoopbackServer()
    try:
        yield server
    finally:
        server.close()


# ---- a small API that is not Tinker ---------------------------------------------------------

KENNEL_MANIFEST = """
manifest_version: 1
api:
  name: kennel
  title: Kennel
  version: "1.0"
  base_url: http://127.0.0.1:9
auth: {header: X-Kennel-Key, env: KENNEL_KEY, prefix: "kn-"}
defaults: {pool: main, retry: none, timeout: {connect: 2, read: 5}}
pools:
  main: {connections: 8}
  polling: {connections: 8}
retry_policies:
  none: {max_attempts: 1}
  twice: {max_attempts: 2, statuses: [5XX], backoff: {initial: 0.001, max: 0.001}}
futures:
  retrieve: fetch_result
  request_id_field: ticket
  poll_timeout: 5
  poller_threads: 2
  iteration_header: X-Poll-Round
  type_header: X-Job-Kind
  not_ready: {statuses: [202], field: kind, value: later}
  queue_state: {field: queue, reason_field: why, values: [moving, stalled]}
  failure: {field: problem, category_field: blame, categories: [user, server, unknown],
            default_category: unknown}
  metadata_only: {request_field: summary_ok, field: kind, value: summary, size_field: bytes,
                  budget_bytes: 1000}
  expired_statuses: [410]
  backoff_statuses: [429, 5XX]
  bad_request: {statuses: [400], max_retries: 2}
  backoff: {initial: 0.5, multiplier: 2, max: 30, jitter: 0.25}
session:
  create: open_visit
  id_field: visit_id
  heartbeat: {operation: ping_visit, interval: 0.01, timeout: 1, warn_after: 0.1,
              stop_statuses: [410]}
  finish: {operation: end_visit, statuses: [done, aborted]}
telemetry:
  operation: report
  batch_size: 3
  flush_interval: 30
  queue_size: 8
  timeout: 1
  env: KENNEL_TELEMETRY
  enabled_values: ["1", "on"]
dispatch_limits:
  walks:
    max_in_flight: 4
    max_bytes: 1000
    backoff_statuses: [429]
    penalty: {max_in_flight: 1, byte_multiplier: 10, window_seconds: 5}
errors:
  map:
    - {status: 400, exception: BadRequestError}
    - {status: 404, exception: NotFoundError}
    - {status: 429, exception: RateLimitError}
    - {status: 5XX, exception: InternalServerError}
sdk:
  client_class: KennelAPI
  groups:
    dogs: {class_name: DogsAPI}
types:
  Walk:
    type: object
    properties:
      dog: {type: string}
      step: {type: integer}
      meters: {type: integer}
    required: [dog, step]
  Ticket:
    type: object
    properties:
      ticket: {type: string}
    required: [ticket]
  TicketPoll:
    type: object
    properties:
      ticket: {type: string}
      summary_ok: {type: boolean}
    required: [ticket]
  WalkReport:
    type: object
    properties:
      dog: {type: string}
      meters: {type: integer}
    required: [dog, meters]
  Visit:
    type: object
    properties:
      visit_id: {type: string}
    required: [visit_id]
  VisitStart:
    type: object
    properties:
      owner: {type: string}
  VisitPing:
    type: object
    properties:
      visit_id: {type: string}
    required: [visit_id]
  VisitEnd:
    type: object
    properties:
      outcome: {type: string}
  Report:
    type: object
    properties:
      entries: {type: array, items: {type: object}}
    required: [entries]
operations:
  - id: start_walk
    method: POST
    path: /walks
    summary: Start a walk; resolves to a WalkReport.
    body: Walk
    result: Ticket
    future: {result: WalkReport, request_type: Walk}
    sequence: {field: step, scope: dog, start: 1, ordered: true}
    dispatch: walks
    media:
      request: [application/x-kennel]
    sdk: {group: dogs, method: walk}
  - id: start_run
    method: POST
    path: /runs
    summary: Start a run (numbered, not ordered).
    body: Walk
    result: Ticket
    future: {result: WalkReport, request_type: Run, result_media: [image/x-pawprint, application/json]}
    sequence: {field: step, scope: dog, start: 0, ordered: false, clone_block: 1000}
    sdk: {group: dogs, method: run}
  - id: fetch_result
    method: POST
    path: /results
    summary: Long-poll a result.
    body: TicketPoll
    pool: polling
    sdk: {group: dogs, method: fetch}
  - id: open_visit
    method: POST
    path: /visits
    summary: Open a visit.
    body: VisitStart
    result: Visit
    retry: twice
    sdk: {group: dogs, method: open_visit}
  - id: ping_visit
    method: POST
    path: /visits/ping
    summary: Keep a visit open.
    body: VisitPing
    retry: twice
    sdk: {group: dogs, method: ping_visit}
  - id: end_visit
    method: POST
    path: /visits/{visit_id}/end
    summary: Close a visit.
    params:
      - {name: visit_id, in: path, schema: {type: string}}
    body: VisitEnd
    sdk: {group: dogs, method: end_visit}
  - id: report
    method: POST
    path: /reports
    summary: Upload telemetry entries.
    body: Report
    retry: twice
    sdk: {group: dogs, method: report}
"""


def compile_manifest(text: str, name: str) -> tuple[OperationTable, ModuleType]:
    """A manifest's operation table and its generated models, importable as ``<name>_models``."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as out:
        manifest = Path(out) / f"{name}.yaml"
        manifest.write_text(text)
        result = build(manifest, models_module=f"{name}_models", runtime_module=f"{name}_api")
    models = ModuleType(f"{name}_models")
    sys.modules[models.__name__] = models  # pydantic resolves forward references through it
    exec(compile(result.models_py, f"{name}_models.py", "exec"), models.__dict__)
    table = OperationTable.load(result.document,
                                extension_schemas=json.loads(result.extensions_json))
    return table, models


@cache
def kennel() -> tuple[OperationTable, ModuleType]:
    """The kennel document as an operation table, and its generated models (built once)."""
    return compile_manifest(KENNEL_MANIFEST, "kennel")


def kennel_variant(old: str, new: str) -> OperationTable:
    """The kennel document's table with ``old`` replaced by ``new`` in the manifest."""
    assert old in KENNEL_MANIFEST, old
    return compile_manifest(KENNEL_MANIFEST.replace(old, new), "kennel_variant")[0]


def kennel_engine(base_url: str, hooks: EngineHooks | None = None, **config: Any) -> Engine:
    """A real engine for the kennel API at ``base_url``; close it when done."""
    table, models = kennel()
    cfg = ClientConfig.resolve(table, api_key=KEY, base_url=base_url, environ={}, **config)
    return Engine(table, cfg, models_module=models, hooks=hooks)


def thread_guard(timeout: float = 5.0) -> Iterator[None]:
    """Body of an autouse fixture: fail if a test leaves more threads than it found."""
    before = threading.active_count()
    yield
    try:
        wait_until(lambda: threading.active_count() <= before, timeout)
    except AssertionError:
        names = [t.name for t in threading.enumerate()]
        raise AssertionError(f"threads left running after the test: {names}") from None
