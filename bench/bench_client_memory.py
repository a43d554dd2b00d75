"""Does the client's memory stay flat over a long training loop?

Starts an emulator (``EmulatorProcess``, its own process, so only the client is
measured), then runs ``--steps`` (500) pipelined steps of ``forward_backward``
+ ``optim_step`` on ``tinkex/micro-lm``: both calls are submitted, then both
results collected. At steps 50, 250 and 500 it records the process RSS, the
memory traced by ``tracemalloc``, live ``APIFuture`` objects and the sizes of the
client's bookkeeping (poller registry, task queue, sequencer counters, telemetry
queue). Step 50 is the baseline (after warm-up); the run is "flat" when RSS and
traced memory grow by less than ``--limit-mb`` (5) from there to the end.

When memory grows, the largest tracemalloc differences (by source line) between
the baseline and the end point at the leak. Expect a small, *bounded* growth at
``pydantic/main.py`` (``model_validate_json``): pydantic-core caches short JSON
strings, and every future has a new request id, until its cache is full (16384
strings, about 1.4 MB); it is not per-request state of the client.

    python bench/bench_client_memory.py [--steps 500] [--limit-mb 5]

Exit status 0 when flat, 1 when memory grew.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tinkex
from tinkex import types
from tinkex.core.futures import APIFuture
from tinkex.emulator.run.process import EmulatorProcess

MB = 1024 * 1024
MODEL = "tinkex/micro-lm"


@dataclass
class Sample:
    step: int
    rss: int
    traced: int
    futures: int
    poller_live: int
    pool_queue: int
    seq_pending: int
    seq_counters: int
    telemetry_queue: int
    seconds: float


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) * (1 if sys.platform == "darwin" else 1024)


def make_batch(count: int = 4, length: int = 32, seed: int = 0) -> list[types.Datum]:
    rng = np.random.default_rng(seed)
    batch = []
    for _ in range(count):
        tokens = rng.integers(0, 256, size=length + 1)
        batch.append(types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={"target_tokens": types.TensorData.from_numpy(tokens[1:]),
                            "weights": types.TensorData.from_numpy(np.ones(length, np.float32))}))
    return batch


def measure(step: int, service: tinkex.ServiceClient, started: float) -> Sample:
    gc.collect()
    ctx = service._ctx  # the client's internals: what could hold on to per-request state
    counters = list(ctx.sequencer._counters.values())
    return Sample(
        step=step, rss=rss_bytes(),
        traced=tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0,
        futures=sum(1 for o in gc.get_objects() if isinstance(o, APIFuture)),
        poller_live=len(ctx.poller._live), pool_queue=len(ctx.poller.pool._heap),
        seq_pending=sum(len(c.returned) for c in counters), seq_counters=len(counters),
        telemetry_queue=ctx.telemetry._queue.qsize(), seconds=time.perf_counter() - started)


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, since: int,
               limit: int = 8) -> None:
    stats = after.compare_to(before, "lineno")
    print(f"largest allocation growth since step {since} (by source line):")
    for stat in stats[:limit]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
              f"{frame.filename}:{frame.lineno}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--checkpoints", default="50,250,500",
                        help="steps to measure at; the first is the post-warm-up baseline")
    parser.add_argument("--limit-mb", type=float, default=5.0)
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="RSS only (tracemalloc slows the loop and adds its own memory)")
    args = parser.parse_args()
    checkpoints = sorted({int(s) for s in args.checkpoints.split(",") if int(s) <= args.steps})

    if not args.no_tracemalloc:
        tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="tinkex-bench-memory-") as tmp, \
            EmulatorProcess(Path(tmp) / "data") as emulator, \
            tinkex.ServiceClient(base_url=emulator.base_url, api_key="tml-bench-memory") as service:
        training = service.create_lora_training_client(base_model=MODEL, rank=4, seed=0)
        batch = make_batch()
        adam = types.AdamParams(learning_rate=1e-3)
        samples: list[Sample] = []
        snapshots: dict[int, tracemalloc.Snapshot] = {}
        started = time.perf_counter()
        loss = first_loss = 0.0
        for step in range(1, args.steps + 1):
            fwd_bwd = training.forward_backward(batch, "cross_entropy")
            optim = training.optim_step(adam)
            loss = fwd_bwd.result().metrics["loss:sum"]
            optim.result()
            first_loss = first_loss or loss
            del fwd_bwd, optim
            if step in checkpoints:
                samples.append(measure(step, service, started))
                if tracemalloc.is_tracing():
                    snapshots[step] = tracemalloc.take_snapshot().filter_traces(
                        [tracemalloc.Filter(False, tracemalloc.__file__)])

    print(f"{args.steps} pipelined forward_backward + optim_step steps on {MODEL} "
          f"(loss {first_loss:.1f} -> {loss:.1f})")
    print(f"{'step':>5} {'time s':>7} {'RSS MB':>8} {'traced MB':>10} {'futures':>8} "
          f"{'poller':>7} {'queue':>6} {'seq gaps':>9} {'seq scopes':>11} {'telemetry':>10}")
    for s in samples:
        traced = f"{s.traced / MB:10.2f}" if tracemalloc.is_tracing() else f"{'-':>10}"
        print(f"{s.step:5d} {s.seconds:7.1f} {s.rss / MB:8.1f} {traced} "
              f"{s.futures:8d} {s.poller_live:7d} {s.pool_queue:6d} {s.seq_pending:9d} "
              f"{s.seq_counters:11d} {s.telemetry_queue:10d}")
    base, end = samples[0], samples[-1]
    rss_growth = (end.rss - base.rss) / MB
    traced_growth = (end.traced - base.traced) / MB
    steps = max(1, end.step - base.step)
    traced_text = (f"traced {traced_growth:+.3f} MB ({(end.traced - base.traced) / steps:+.0f} "
                   f"bytes/step), " if tracemalloc.is_tracing() else "")
    print(f"growth from step {base.step} to {end.step}: RSS {rss_growth:+.2f} MB, {traced_text}"
          f"live futures {end.futures - base.futures:+d}")
    flat = abs(rss_growth) < args.limit_mb and traced_growth < args.limit_mb
    if snapshots and len(snapshots) > 1:
        top_growth(snapshots[base.step], snapshots[end.step], base.step)
    print(f"memory is {'FLAT' if flat else 'GROWING'} (limit {args.limit_mb:g} MB after warm-up)")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
