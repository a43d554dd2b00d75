"""Sampling throughput fanned out over workers, against threads in one process.

One emulator (its own process, ``tinkex/tiny-lm``) serves every configuration.
A job is one seeded ``sample(prompt, num_samples=4, max_tokens=16)`` awaited to
its result, as a rollout worker does; N workers each run jobs one after another
(so N are in flight), for N = 1, 2, 4:

* threads: N threads in this process sharing one SamplingClient (the baseline);
* process pool: a spawn ``ProcessPoolExecutor`` of N workers, the client pickled
  into every job;
* Ray (if installed): N actors on a local cluster, the client passed with every job.

Pools, actors and their connections are warmed up first (every worker has
joined the session), so the rates are steady-state samples per second; each
configuration's rate is printed as a ratio to the threads with the same N,
measured in the same run, engines taking turns. The fan-out must also return
exactly the threads' results. Usage:
``python bench/bench_scaleout.py [--jobs N] [--repeats N] [--no-ray]``
(``TINKER_BASE_MODEL=tinkex/micro-lm`` for a cheaper model, so that the
client side weighs more).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import tinkex
from tinkex import types
from tinkex.emulator.run.process import EmulatorProcess

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
WORKERS = (1, 2, 4)
GROUP, MAX_TOKENS = 4, 16
Job = tuple[tuple[int, ...], int]  # prompt tokens, seed
Result = tuple[tuple[int, ...], ...]  # the group's sampled tokens


def sample_job(sampler: tinkex.SamplingClient, job: Job) -> Result:
    prompt, seed = job
    params = types.SamplingParams(max_tokens=MAX_TOKENS, temperature=1.0, seed=seed, stop=[])
    response = sampler.sample(types.ModelInput.from_ints(list(prompt)), GROUP, params).result()
    return tuple(tuple(s.tokens) for s in response.sequences)


def warm_up_job(sampler: tinkex.SamplingClient, job: Job) -> int:
    """Join the session and sample once; slow enough that a pool spreads these over workers."""
    sample_job(sampler, job)
    time.sleep(0.2)
    return os.getpid()


class SamplerActor:
    """A Ray actor: one worker process that samples the jobs it is handed."""

    def run(self, sampler: tinkex.SamplingClient, job: Job) -> Result:
        return sample_job(sampler, job)

    def warm_up(self, sampler: tinkex.SamplingClient, job: Job) -> int:
        return warm_up_job(sampler, job)


Runner = Callable[[Callable[..., Any], Sequence[Job]], list[Any]]


def executor_runner(executor: Executor, sampler: tinkex.SamplingClient) -> Runner:
    def run(fn: Callable[..., Any], jobs: Sequence[Job]) -> list[Any]:
        return list(executor.map(fn, [sampler] * len(jobs), jobs))

    return run


def ray_runner(ray: Any, actors: list[Any], sampler: tinkex.SamplingClient) -> Runner:
    shared = ray.put(sampler)

    def run(fn: Callable[..., Any], jobs: Sequence[Job]) -> list[Any]:
        method = "warm_up" if fn is warm_up_job else "run"
        return list(ray.get([getattr(actors[i % len(actors)], method).remote(shared, job)
                             for i, job in enumerate(jobs)]))

    return run


def warm(run: Runner, workers: int) -> None:
    """Return once every worker has joined the session (a spawn pool starts processes lazily)."""
    seen: set[int] = set()
    for _ in range(20):
        seen.update(run(warm_up_job, [((256, 1), 10_000 + i) for i in range(workers)]))
        if len(seen) >= workers:
            return
    raise RuntimeError(f"only {len(seen)} of {workers} workers ever took a job")


def rate(run: Runner, jobs: Sequence[Job]) -> tuple[float, list[Result]]:
    started = time.perf_counter()
    results = run(sample_job, jobs)
    return len(jobs) * GROUP / (time.perf_counter() - started), results


def measure(n: int, sampler: tinkex.SamplingClient, jobs: Sequence[Job], repeats: int,
            spawn: Any, ray: Any) -> dict[str, float]:
    """Median samples/s of each engine with ``n`` workers; engines take turns, so that drift
    in the machine's load hits them alike."""
    with ThreadPoolExecutor(n) as threads, ProcessPoolExecutor(n, mp_context=spawn) as pool:
        runners = {"threads": executor_runner(threads, sampler),
                   "process pool": executor_runner(pool, sampler)}
        actors = []
        if ray is not None:
            actors = [ray.remote(num_cpus=1)(SamplerActor).remote() for _ in range(n)]
            runners["Ray"] = ray_runner(ray, actors, sampler)
        for name, run in runners.items():
            warm(run, 1 if name == "threads" else n)
        rates: dict[str, list[float]] = {name: [] for name in runners}
        expected: list[Result] | None = None
        for _ in range(repeats):
            for name, run in runners.items():
                value, results = rate(run, jobs)
                expected = results if expected is None else expected
                assert results == expected, f"{name} results differ from the threads'"
                rates[name].append(value)
        for actor in actors:
            ray.kill(actor)
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=160, help="timed jobs per configuration")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per engine (median)")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    ray: Any = None
    if not args.no_ray:
        try:
            import ray
        except ImportError:
            print("(Ray is not installed: pip install 'tinkex[ray]'; its rows are skipped)")
    spawn = multiprocessing.get_context("spawn")
    jobs = [((256, *f"prompt {i % 8}:".encode()), i) for i in range(args.jobs)]
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as data_dir, EmulatorProcess(data_dir) as emulator, \
            tinkex.ServiceClient(base_url=emulator.base_url, api_key="tml-bench") as service:
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        if ray is not None:
            ray.init(num_cpus=max(WORKERS), include_dashboard=False, log_to_driver=False,
                     logging_level="warning")
        try:
            for n in WORKERS:
                rows[n] = measure(n, sampler, jobs, args.repeats, spawn, ray)
        finally:
            if ray is not None:
                ray.shutdown()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"scale-out bench: {args.jobs} jobs of sample({GROUP} x {MAX_TOKENS} tokens) on "
          f"{BASE_MODEL}, emulator in its own process; {os.cpu_count()} CPU(s), load {load}; "
          f"median of {args.repeats}")
    engines = [name for name in ("process pool", "Ray") if name in rows[WORKERS[0]]]
    print(f"{'workers':>7}  {'threads (samples/s)':>19}  " + "  ".join(
        f"{name + ' / threads':>20}" for name in engines))
    for n, row in rows.items():
        print(f"{n:>7}  {row['threads']:>19.1f}  " + "  ".join(
            f"{row[name] / row['threads']:>20.2f}" for name in engines))
    first = rows[WORKERS[0]]["threads"]
    print("threads N / threads 1: " + ", ".join(
        f"{n}: {rows[n]['threads'] / first:.2f}" for n in WORKERS))
    print("results: every fan-out returned exactly the threads' samples")


if __name__ == "__main__":
    main()
