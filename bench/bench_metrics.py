"""Cost of the always-on metrics aggregator per call: ``Engine.call`` with metrics on vs off.

The same engine calls the same loopback server (stdlib, keep-alive, TCP_NODELAY,
in a thread), alternating blocks with ``engine.metrics`` set and unset so that
drift hits both sides alike. Two numbers, both measured in this run:

* end to end: wall time per call with metrics / without (noisy at the 1 % level);
* the aggregator alone: ``Metrics.record`` timed in a tight loop (with the
  snapshot work it implies), as a fraction of the measured time of a call.

Target: < 2 % per call.

    .venv/bin/python bench/bench_metrics.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench_core_overhead import ROOT, Handler, load_models, measure
from codegen.build import build

from tinkex.core import ClientConfig, Engine, OperationTable
from tinkex.core.metrics import Metrics

N = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
BLOCK = 100


def record_cost(n: int = 200_000) -> float:
    """Seconds per ``Metrics.record`` over a spread of latencies and outcomes."""
    metrics = Metrics()
    latencies = [0.0002 * (1 + i % 97) for i in range(1000)]
    start = time.perf_counter()
    for i in range(n):
        metrics.record("create_pet", latencies[i % 1000], 1 + (i % 50 == 0),
                       None if i % 20 else "503")
    return (time.perf_counter() - start) / n


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
        engine = Engine(table, ClientConfig.resolve(table, api_key="pet-bench", base_url=base,
                                                    environ={}), models_module=models)
        metrics = Metrics()

        def call() -> object:
            return engine.call("create_pet", name="Rex", species="dog")

        measure(call, 200)  # warm up
        wall = {"on": 0.0, "off": 0.0}
        blocks: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(N // BLOCK):
            for side in ("on", "off"):
                engine.metrics = metrics if side == "on" else None
                w, _ = measure(call, BLOCK)
                wall[side] += w
                blocks[side].append(w / BLOCK)
        engine.close()
        server.shutdown()
        server.server_close()
    calls = metrics.snapshot()["create_pet"]
    per_call = wall["off"] / N
    record = record_cost()
    print(f"{N} calls per side, interleaved in blocks of {BLOCK}; {calls.calls} recorded, "
          f"p50 {1e6 * calls.latency.p50:.0f} us, p99 {1e6 * calls.latency.p99:.0f} us")
    for side in ("off", "on"):
        print(f"metrics {side:3s}: {1e6 * wall[side] / N:7.1f} us/call "
              f"(median block {1e6 * statistics.median(blocks[side]):7.1f})")
    median_ratio = statistics.median(blocks["on"]) / statistics.median(blocks["off"])
    print(f"end to end ratio on / off: {wall['on'] / wall['off']:.3f} (total), "
          f"{median_ratio:.3f} (median block)")
    print(f"Metrics.record: {1e6 * record:.2f} us = {100 * record / per_call:.2f} % of a call "
          f"(target < 2 %)")


if __name__ == "__main__":
    main()
