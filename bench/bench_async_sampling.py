"""Do many concurrent ``sample_async`` calls reach the throughput of the blocking path?

Starts an emulator (``EmulatorProcess``, its own process), then, alternating, a
few rounds of each way of taking ``--samples`` (1024) samples of 4 tokens from
``tinkex/micro-lm``:

* sync: ``sampler.sample(...)`` for each (each submit blocks its caller), then
  ``.result()`` of every future — the pattern of a plain script;
* async: ``asyncio.gather`` of ``sampler.sample_async(...)`` for each, the
  pattern of the official quickstart and the cookbook.

It prints samples per second of each (the best round, so a busy machine hurts
both alike) and the ratio async / sync. Exit status 0 when the ratio is at
least ``--min-ratio`` (0.9: within 10% of the sync path).

    python bench/bench_async_sampling.py [--samples 1024] [--rounds 3] [--min-ratio 0.9]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import tinkex
from tinkex import types

MODEL = "tinkex/micro-lm"
PARAMS = types.SamplingParams(max_tokens=4, temperature=1.0)


def sync_round(sampler: tinkex.SamplingClient, prompt: types.ModelInput, n: int) -> float:
    started = time.perf_counter()
    futures = [sampler.sample(prompt, 1, PARAMS) for _ in range(n)]
    for future in futures:
        assert len(future.result().sequences) == 1
    return n / (time.perf_counter() - started)


def async_round(sampler: tinkex.SamplingClient, prompt: types.ModelInput, n: int) -> float:
    async def run() -> float:
        started = time.perf_counter()
        results = await asyncio.gather(*[sampler.sample_async(prompt, 1, PARAMS)
                                         for _ in range(n)])
        assert all(len(r.sequences) == 1 for r in results)
        return n / (time.perf_counter() - started)

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=0.9)
    args = parser.parse_args()
    from tinkex.emulator.run.process import EmulatorProcess

    with tempfile.TemporaryDirectory() as tmp, \
            EmulatorProcess(Path(tmp) / "data", args=["--workers", "2"]) as emulator, \
            tinkex.ServiceClient(base_url=emulator.base_url, api_key="tml-bench") as service:
        sampler = service.create_sampling_client(base_model=MODEL)
        prompt = types.ModelInput.from_ints([256, *b"Hello"])
        sync_round(sampler, prompt, 64)  # warm up connections and the emulator
        async_round(sampler, prompt, 64)
        sync_rates, async_rates = [], []
        for _ in range(args.rounds):
            sync_rates.append(sync_round(sampler, prompt, args.samples))
            async_rates.append(async_round(sampler, prompt, args.samples))
    best_sync, best_async = max(sync_rates), max(async_rates)
    ratio = best_async / best_sync
    print(f"{args.samples} samples, best of {args.rounds} rounds")
    print(f"  sync  (sample, then result):    {best_sync:8.1f} samples/s")
    print(f"  async (gather of sample_async): {best_async:8.1f} samples/s")
    print(f"  ratio async/sync: {ratio:.2f} (at least {args.min_ratio} wanted)")
    return 0 if ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
