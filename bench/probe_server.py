"""A loopback Tinker server that answers every call at once, for measuring client overhead.

Run in its own process (``python bench/probe_server.py``; it prints its port),
so the clients measured against it do not share its interpreter. It speaks just
enough of the protocol for the official SDK and tinkex to create a session and
a sampler, sample (the retrieve answer is JSON or protobuf, as ``Accept``
asks), call ``get_server_capabilities`` and send a ``forward_backward`` (the
body is read and dropped). Stdlib ``ThreadingHTTPServer``, HTTP/1.1
keep-alive, ``TCP_NODELAY``: what a raw-requests client gets is the floor.

Two probe routes serve the completion-latency measure: ``POST /probe/hold``
(``{"seconds": s}``) makes each retrieve wait ``s`` before answering, and
``GET /probe/stamps`` returns (and clears) the ``time.monotonic()`` at which each
retrieve answer was written (the clock is system-wide on Linux, so a client in
another process can subtract it from its own).
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinkex import types  # noqa: E402
from tinkex.proto import codec  # noqa: E402

TOKENS = [72, 105, 33, 10]
SAMPLE = types.SampleResponse(sequences=[types.SampledSequence(
    stop_reason="length", tokens=TOKENS, logprobs=[-0.5] * len(TOKENS))])
SAMPLE_JSON = SAMPLE.model_dump_json(exclude_none=True).encode()
SAMPLE_PROTO = codec.encode_sample_response(SAMPLE)
MODEL = "tinkex/tiny-lm"

PLAIN: dict[str, Any] = {
    "/api/v1/client/config": {"proto_write_fwdbwd": True, "use_pyqwest_transport": False},
    "/api/v1/client/dynamic_config": {},
    "/api/v1/get_server_capabilities": {"supported_models": [
        {"model_name": MODEL, "max_context_length": 2048, "trainable": True, "sampleable": True}]},
    "/api/v1/healthz": {"status": "ok"},
    "/api/v1/create_session": {"session_id": "probe-session", "type": "create_session"},
    "/api/v1/session_heartbeat": {"type": "session_heartbeat"},
    "/api/v1/create_sampling_session": {"sampling_session_id": "probe-session:sample:0",
                                        "type": "create_sampling_session"},
    "/api/v1/telemetry": {"status": "accepted"},
}


class State:
    def __init__(self) -> None:
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.hold = 0.0
        self.stamps: list[float] = []


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, body: bytes, media: str = "application/json", status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._answer(json.dumps(value).encode())

    def _read(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/probe/stamps":
            with STATE.lock:
                stamps, STATE.stamps = STATE.stamps, []
            self._json(stamps)
        elif path in PLAIN:
            self._json(PLAIN[path])
        else:
            self._answer(b'{"detail": "not found"}', status=404)

    def do_POST(self) -> None:
        body = self._read()
        path = self.path.split("?")[0]
        if path == "/api/v1/asample":
            n = next(STATE.ids)
            self._json({"request_id": f"probe-{n}", "sample_sequence_ids": [f"seq-{n}"]})
        elif path == "/api/v1/forward_backward":
            self._json({"request_id": f"sink-{len(body)}"})
        elif path == "/api/v1/retrieve_future":
            if STATE.hold:
                time.sleep(STATE.hold)
            if "application/x-protobuf" in (self.headers.get("Accept") or ""):
                self._answer(SAMPLE_PROTO, codec.MEDIA_TYPE)
            else:
                self._answer(SAMPLE_JSON)
            if STATE.hold:
                with STATE.lock:
                    STATE.stamps.append(time.monotonic())
        elif path == "/probe/hold":
            STATE.hold = float(json.loads(body)["seconds"])
            with STATE.lock:
                STATE.stamps = []
            self._json({"hold": STATE.hold})
        elif path in PLAIN:
            self._json(PLAIN[path])
        else:
            self._answer(b'{"detail": "not found"}', status=404)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
