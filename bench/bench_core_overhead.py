"""Per-call overhead of the core: ``Engine.call`` against a bare ``requests.Session.post``.

Both send the same small JSON body to the same loopback server (stdlib, keep-alive,
TCP_NODELAY, in a thread) and parse the JSON answer; the engine also validates the
request and the response with the generated pydantic models, adds its headers and
runs its retry loop. Calls are interleaved in blocks so that drift (CPU frequency,
other load) hits both sides alike. Target: ratio <= 1.2.

    .venv/bin/python bench/bench_core_overhead.py [N]
"""

from __future__ import annotations

import importlib.util
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinkex.codegen.build import build  # noqa: E402
from tinkex.core import ClientConfig, Engine, OperationTable  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
BLOCK = 100
PET = json.dumps({"id": 1, "name": "Rex", "species": "dog", "tags": []}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(PET)))
        self.end_headers()
        self.wfile.write(PET)


def load_models(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_models"] = module
    spec.loader.exec_module(module)
    return module


def measure(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall, process CPU) seconds for n calls."""
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = build(ROOT / "tests" / "fixtures" / "petstore.yaml", models_module="bench_models",
                       runtime_module="bench_api")
        (Path(tmp) / "openapi.json").write_text(result.openapi_json)
        (Path(tmp) / "extensions.schema.json").write_text(result.extensions_json)
        (Path(tmp) / "bench_models.py").write_text(result.models_py)
        models = load_models(Path(tmp) / "bench_models.py")
        table = OperationTable.load(Path(tmp) / "openapi.json")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        config = ClientConfig.resolve(table, api_key="pet-bench", base_url=base, environ={})
        engine = Engine(table, config, models_module=models)
        bare = requests.Session()
        bare.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
        lean = requests.Session()
        lean.trust_env = False
        lean.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
        payload = {"name": "Rex", "species": "dog"}
        headers = {"X-Pet-Token": "pet-bench"}

        def via_engine() -> Any:
            return engine.call("create_pet", name="Rex", species="dog")

        def via_session() -> Any:
            return bare.post(base + "/pets", json=payload, headers=headers, timeout=(2, 10)).json()

        def via_lean_session() -> Any:
            return lean.post(base + "/pets", json=payload, headers=headers, timeout=(2, 10)).json()

        cases = {"Engine.call": via_engine, "requests.Session.post": via_session,
                 "Session.post (trust_env=False)": via_lean_session}
        for fn in cases.values():  # warm up connections, caches and the models
            measure(fn, 100)
        wall = {name: 0.0 for name in cases}
        cpu = {name: 0.0 for name in cases}
        per_block: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(N // BLOCK):
            for name, fn in cases.items():
                w, c = measure(fn, BLOCK)
                wall[name] += w
                cpu[name] += c
                per_block[name].append(w / BLOCK)
        engine.close()
        bare.close()
        lean.close()
        server.shutdown()
        server.server_close()

    print(f"{N} calls each, interleaved in blocks of {BLOCK}; server in a thread of this process")
    for name in cases:
        print(f"{name:32s} wall {1e6 * wall[name] / N:7.1f} us/call "
              f"(median block {1e6 * statistics.median(per_block[name]):7.1f})   "
              f"process CPU {1e6 * cpu[name] / N:7.1f} us/call")
    ratio = wall["Engine.call"] / wall["requests.Session.post"]
    print(f"ratio Engine.call / requests.Session.post: {ratio:.2f} (target <= 1.20)")
    lean_ratio = wall["Engine.call"] / wall["Session.post (trust_env=False)"]
    print(f"ratio Engine.call / Session.post (trust_env=False): {lean_ratio:.2f}")


if __name__ == "__main__":
    main()
