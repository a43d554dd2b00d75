"""Encoding + sending a big forward_backward: JSON vs protobuf, tinkex vs official tinker 0.38.0.

The request: 256 sequences x 2048 tokens; per token a target (int64) and a
weight (float32, an SFT-style prompt mask of 0s then 1s: short JSON numbers,
which flatters JSON). The inputs are numpy arrays; datums are built before the
clock starts. "Encoding + sending" is everything from the datums to the server
having read the body: a loopback sink (stdlib ``ThreadingHTTPServer`` in this
process) that reads and discards it and answers ``{"request_id": "sink-<bytes>"}``.

Cases (each in its own subprocess, so that peak RSS is its own):

* ``tinkex-json`` / ``tinkex-protobuf`` / ``tinkex-protobuf-zstd``: tinkex's real
  path, ``Engine.call("forward_backward", ...)`` with the sequencer numbering the
  body (JSON: validate + dump + ``to_json``; protobuf: the ``encode_body`` hook
  the TrainingClient uses, :func:`tinkex.wire.encode_pass`), sent by its
  requests-based transport. One request (no chunking), as for the official SDK.
* ``official-protobuf`` / ``official-protobuf-zstd``: tinker 0.38.0's own steps
  from ``tinker/resources/training.py``: ``proto.request_conv.
  forward_backward_request_to_proto`` + ``SerializeToString`` (+ a default
  ``zstandard.ZstdCompressor``), POSTed with httpx (its HTTP library). Run by
  the venv the conformance tests cache (built with their helper if missing).
* ``official-json-0.24.1`` (only when that venv is cached too): the newest
  all-JSON SDK's ``model_dump(to_pydantic_request(...))`` + httpx ``json=``.

Per case: median wall time of encode+send over ``--repeats`` runs after one
warm-up; peak RSS growth of one encode+send (``ru_maxrss`` after it minus the
RSS before it; the datums are built first); and the ``tracemalloc`` peak of one
encode+send in a third process (Python and numpy allocations; not protobuf's C
arena, which RSS sees).

    .venv/bin/python bench/bench_fwdbwd_encoding.py [--repeats 5] [--sequences 256] [--tokens 2048]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
OFFICIAL = "0.38.0"
OFFICIAL_JSON = "0.24.1"
TINKEX_CASES = ("tinkex-json", "tinkex-protobuf", "tinkex-protobuf-zstd")
OFFICIAL_CASES = ("official-protobuf", "official-protobuf-zstd")
PROTOBUF = "application/x-protobuf"


# ---- the data (identical in every process) ------------------------------------------------


def arrays(sequences: int, tokens: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(input tokens, target tokens int64, weights float32) per sequence, from a fixed seed."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 32_000, size=(sequences, tokens + 1), dtype=np.int64)
    weights = np.ones((sequences, tokens), dtype=np.float32)
    weights[:, : tokens // 4] = 0.0  # the prompt is not trained on
    return [(ids[i, :-1], ids[i, 1:].copy(), weights[i].copy()) for i in range(sequences)]


# ---- the cases: each returns send() -> bytes received by the sink --------------------------


def tinkex_case(sink: str, data: list[Any], encoding: str) -> Callable[[], int]:
    import functools

    from tinkex import types, wire
    from tinkex._spec import load_document
    from tinkex._version import __version__
    from tinkex.core import sequencing
    from tinkex.core.config import ClientConfig
    from tinkex.core.engine import Engine, EngineHooks
    from tinkex.core.model.operations import load_table
    from tinkex.core.options import RequestOptions
    from tinkex.types import _generated

    table = load_table(load_document())
    config = ClientConfig.resolve(table, api_key="tml-bench", base_url=sink,
                                  sdk_version=__version__, environ={})
    # the body is numbered, as in a TrainingClient
    engine = Engine(table, config, models_module=_generated,
                    hooks=EngineHooks(sequencer=sequencing.sequencer_for))
    datums = [types.Datum(model_input=types.ModelInput.from_ints(x),
                          loss_fn_inputs={"target_tokens": y, "weights": w}) for x, y, w in data]
    encode = None
    if encoding != "json":
        encode = functools.partial(wire.encode_pass, forward_only=False,
                                   compress=encoding == "protobuf-zstd")

    options = RequestOptions(encode_body=encode)

    def send() -> int:
        fb_input = types.ForwardBackwardInput(data=datums, loss_fn="cross_entropy")
        ticket = engine.call("forward_backward", options, model_id="bench",
                             forward_backward_input=fb_input)
        return int(ticket.request_id.removeprefix("sink-"))

    return send


def official_case(sink: str, data: list[Any], encoding: str) -> Callable[[], int]:
    import httpx
    import zstandard
    from tinker import types as tt

    client = httpx.Client(timeout=120)
    url = sink + "/api/v1/forward_backward"
    datums = [tt.Datum(model_input=tt.ModelInput.from_ints(x.tolist()),
                       loss_fn_inputs={"target_tokens": y, "weights": w}) for x, y, w in data]

    if encoding == "json":  # SDK 0.24.1, the newest all-JSON one
        from tinker._compat import model_dump
        from tinker.lib._pydantic_conv import to_pydantic_request

        def send() -> int:
            request = tt.ForwardBackwardRequest(forward_backward_input=tt.ForwardBackwardInput(
                data=datums, loss_fn="cross_entropy"), model_id="bench", seq_id=1)
            body = model_dump(to_pydantic_request(request), exclude_unset=False,
                              exclude_none=True, mode="json")
            return int(client.post(url, json=body).json()["request_id"].removeprefix("sink-"))

        return send

    from tinker.proto.request_conv import forward_backward_request_to_proto

    def send_proto() -> int:  # tinker/resources/training.py, AsyncTrainingResource.forward_backward
        request = tt.ForwardBackwardRequest(forward_backward_input=tt.ForwardBackwardInput(
            data=datums, loss_fn="cross_entropy"), model_id="bench", seq_id=1)
        message = forward_backward_request_to_proto(request)
        message.forward_only = False
        body = message.SerializeToString()
        headers = {"Content-Type": PROTOBUF}
        if encoding == "protobuf-zstd":
            body = zstandard.ZstdCompressor().compress(body)
            headers["Content-Encoding"] = "zstd"
        reply = client.post(url, content=body, headers=headers)
        return int(reply.json()["request_id"].removeprefix("sink-"))

    return send_proto


def make_case(case: str, sink: str, data: list[Any]) -> Callable[[], int]:
    if case.startswith("tinkex-"):
        return tinkex_case(sink, data, case.removeprefix("tinkex-"))
    if case == f"official-json-{OFFICIAL_JSON}":
        return official_case(sink, data, "json")
    return official_case(sink, data, case.removeprefix("official-"))


# ---- one measurement, in a child process ----------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure(case: str, sink: str, metric: str, repeats: int, sequences: int,
            tokens: int) -> dict[str, Any]:
    send = make_case(case, sink, arrays(sequences, tokens))
    gc.collect()
    if metric == "time":
        body = send()  # warm-up: imports, connections, caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            send()
            times.append(time.perf_counter() - start)
        return {"body_bytes": body, "seconds": statistics.median(times), "best": min(times)}
    if metric == "rss":
        before, peak_before = rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        send()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"rss_growth": max(peak - before, 0), "peak_before": peak_before * 1024 - before}
    tracemalloc.start()
    tracemalloc.reset_peak()
    send()
    return {"traced_peak": tracemalloc.get_traced_memory()[1]}


# ---- the sink and the driver ------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else the two writes of a reply stall ~40 ms (delayed ACK)

    def do_POST(self) -> None:  # noqa: N802
        remaining = int(self.headers.get("content-length") or 0)
        received = remaining
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        reply = json.dumps({"request_id": f"sink-{received}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def official_python(version: str, build: bool) -> Path | None:
    """The interpreter of the conformance tests' cached venv for ``version`` (built if asked)."""
    venv_python = ROOT / ".cache" / "conformance" / f"tinker-{version}" / "bin" / "python"
    if not build:
        return venv_python if venv_python.exists() else None
    sys.path.insert(0, str(ROOT / "tests" / "conformance"))
    from test_official_sdk import official_sdk_python  # the helper that builds and caches it

    return official_sdk_python(version)


def run_child(python: Path, case: str, sink: str, metric: str, args: argparse.Namespace
              ) -> dict[str, Any]:
    command = [str(python), __file__, "--child", case, "--sink", sink, "--metric", metric,
               "--repeats", str(args.repeats), "--sequences", str(args.sequences),
               "--tokens", str(args.tokens)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{case} ({metric}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}x" if b else "   n/a"


def report(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'case':<24} {'body MB':>8} {'encode+send s':>14} {'best s':>8} "
          f"{'peak RSS +MB':>13} {'tracemalloc MB':>15}")
    for case, r in results.items():
        print(f"{case:<24} {r['body_bytes'] / MB:8.2f} {r['seconds']:14.3f} {r['best']:8.3f} "
              f"{r['rss_growth'] / MB:13.1f} {r['traced_peak'] / MB:15.1f}")
    pairs = [("tinkex-json", "tinkex-protobuf", "tinkex: JSON / protobuf"),
             ("tinkex-json", "tinkex-protobuf-zstd", "tinkex: JSON / protobuf+zstd"),
             ("tinkex-protobuf", "official-protobuf", "protobuf: tinkex / official"),
             ("tinkex-protobuf-zstd", "official-protobuf-zstd", "protobuf+zstd: tinkex / official"),
             (f"official-json-{OFFICIAL_JSON}", "tinkex-json",
              f"JSON: official {OFFICIAL_JSON} / tinkex"),
             (f"official-json-{OFFICIAL_JSON}", "tinkex-protobuf",
              f"official {OFFICIAL_JSON} JSON / tinkex protobuf")]
    print(f"\n{'ratio (a / b; below 1: a is better)':<45} {'time':>8} {'RSS':>8} {'traced':>8} "
          f"{'bytes':>8}")
    for a, b, label in pairs:
        if a in results and b in results:
            x, y = results[a], results[b]
            print(f"{label:<45} {ratio(x['seconds'], y['seconds']):>8} "
                  f"{ratio(x['rss_growth'], y['rss_growth']):>8} "
                  f"{ratio(x['traced_peak'], y['traced_peak']):>8} "
                  f"{ratio(x['body_bytes'], y['body_bytes']):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    parser.add_argument("--metric", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.sink, args.metric, args.repeats,
                                 args.sequences, args.tokens)))
        return

    pythons: dict[str, Path] = {case: Path(sys.executable) for case in TINKEX_CASES}
    official = official_python(OFFICIAL, build=True)
    assert official is not None
    pythons.update({case: official for case in OFFICIAL_CASES})
    old = official_python(OFFICIAL_JSON, build=False)
    if old is not None:
        pythons[f"official-json-{OFFICIAL_JSON}"] = old
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"forward_backward of {args.sequences} x {args.tokens} tokens, sink {sink}, "
          f"median of {args.repeats}; official SDK {OFFICIAL} from {official}")
    results: dict[str, dict[str, Any]] = {}
    try:
        for case, python in pythons.items():
            result: dict[str, Any] = {}
            for metric in ("time", "rss", "traced"):
                result.update(run_child(python, case, sink, metric, args))
            results[case] = result
            print(f"  {case}: {result['seconds']:.3f} s", flush=True)
    finally:
        server.shutdown()
    report(results)


if __name__ == "__main__":
    main()
