"""Emulator throughput through HTTP: one forward_backward of 64 x 128 tokens, one sample of 16 x 64.

The emulator runs as a separate process (as users run it), on ``tinkex/tiny-lm``;
each timing covers submit + long-poll until the result is back, i.e. what a
client waits. Usage: ``python bench/bench_emulator.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import requests

from tinkex.emulator.run.process import EmulatorProcess

BASE_MODEL = "tinkex/tiny-lm"
BATCH, SEQ_LEN = 64, 128
SAMPLES, SAMPLE_TOKENS = 16, 64


class Bench:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["X-API-Key"] = "tml-bench"

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.base_url + path, json=body, timeout=60)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def wait(self, future: dict[str, Any]) -> dict[str, Any]:
        while True:
            response = self.http.post(self.base_url + "/api/v1/retrieve_future",
                                      json={"request_id": future["request_id"]}, timeout=60)
            if response.status_code != 408:
                response.raise_for_status()
                out = response.json()
                if "error" in out:
                    raise RuntimeError(out["error"])
                return out  # type: ignore[no-any-return]


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up: caches, first allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float], tokens: int) -> None:
    median = statistics.median(times)
    print(f"{name}: median {median * 1000:.0f} ms, min {min(times) * 1000:.0f} ms "
          f"over {len(times)} runs ({tokens / median:,.0f} tokens/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as emulator:
        bench = Bench(emulator.base_url)
        session = bench.call("/api/v1/create_session", {"sdk_version": "bench"})["session_id"]
        model = bench.wait(bench.call("/api/v1/create_model", {
            "session_id": session, "model_seq_id": 0, "base_model": BASE_MODEL,
            "lora_config": {"rank": 32}}))["model_id"]
        tokens = [(i * 7) % 256 for i in range(SEQ_LEN + 1)]
        datum = {"model_input": {"chunks": [{"type": "encoded_text", "tokens": tokens[:-1]}]},
                 "loss_fn_inputs": {
                     "target_tokens": {"data": tokens[1:], "dtype": "int64"},
                     "weights": {"data": [1.0] * SEQ_LEN, "dtype": "float32"}}}
        seq = iter(range(1, 10_000))

        def forward_backward() -> None:
            bench.wait(bench.call("/api/v1/forward_backward", {
                "model_id": model, "seq_id": next(seq),
                "forward_backward_input": {"data": [datum] * BATCH, "loss_fn": "cross_entropy"}}))

        sampler = bench.call("/api/v1/create_sampling_session", {
            "session_id": session, "sampling_session_seq_id": 0,
            "base_model": BASE_MODEL})["sampling_session_id"]
        sample_seq = iter(range(10_000))

        def sample() -> None:
            out = bench.wait(bench.call("/api/v1/asample", {
                "sampling_session_id": sampler, "seq_id": next(sample_seq),
                "num_samples": SAMPLES, "prompt": {"chunks": [{"tokens": tokens[:16]}]},
                "sampling_params": {"max_tokens": SAMPLE_TOKENS, "stop": [], "seed": 0}}))
            assert all(len(s["tokens"]) == SAMPLE_TOKENS for s in out["sequences"])

        print(f"emulator bench ({BASE_MODEL}, through HTTP, submit + retrieve)")
        report(f"forward_backward {BATCH} x {SEQ_LEN} tokens",
               timed(forward_backward, args.repeats), BATCH * SEQ_LEN)
        report(f"sample {SAMPLES} x {SAMPLE_TOKENS} tokens", timed(sample, args.repeats),
               SAMPLES * SAMPLE_TOKENS)


if __name__ == "__main__":
    main()
