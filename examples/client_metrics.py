"""Client metrics: per-operation counts and latency percentiles, always on.

``ServiceClient.metrics()`` tells, for every operation this client family
called, how many calls succeeded, how many failed (by status), how many
retries they needed and their latency (p50, p95, p99, mean, max).
``metrics(reset=True)`` returns the numbers and starts counting again, e.g.
once per reporting interval.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/client_metrics.py
"""

from __future__ import annotations

import os

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")


def main() -> None:
    with tinkex.ServiceClient() as service:
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        tokenizer = sampler.get_tokenizer()
        prompt = types.ModelInput.from_ints(tokenizer.encode("Hello"))
        params = types.SamplingParams(max_tokens=4, temperature=0.0)
        futures = [sampler.sample(prompt, 1, params) for _ in range(8)]
        for future in futures:
            future.result()

        snapshot = service.metrics(reset=True)
        print(f"{'operation':28s} {'calls':>5s} {'ok':>4s} {'retries':>7s} "
              f"{'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s}")
        for name, stats in snapshot.operations.items():
            lat = stats.latency
            print(f"{name:28s} {stats.calls:5d} {stats.successes:4d} {stats.retries:7d} "
                  f"{1e3 * lat.p50:7.2f} {1e3 * lat.p95:7.2f} {1e3 * lat.p99:7.2f}")
            for status, count in stats.failures.items():
                print(f"{'':28s} failed {count} time(s) with {status}")
        print(f"{snapshot['asample'].calls} samples submitted; "
              f"{snapshot.calls} calls in all; after reset: {service.metrics().calls} call(s)")


if __name__ == "__main__":
    main()
