"""RL rollouts fanned out over Ray workers (or a process pool) while one trainer steps.

A small policy-gradient loop (REINFORCE with group-centred advantages): each
iteration saves the policy's weights for sampling, hands the resulting
``SamplingClient`` to N workers, which sample seeded groups of continuations
and score them, and trains on their rollouts with the ``importance_sampling``
loss. The reward is the share of lowercase letters and spaces in a
continuation, so the mean reward climbs as the policy learns.

A ``SamplingClient`` pickles into each task: in a worker it joins the
trainer's session when it first samples, numbers its samples in a block of
that worker's own, and shares one connection with every other copy there.
Seeded sampling makes a rollout independent of the worker that runs it: the
first iteration is also run in this process with threads, and must come out
token for token (and logprob for logprob) the same.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    pip install 'tinkex[ray]'
    python examples/rl_rollouts_ray.py                     # 4 Ray workers (local cluster)
    python examples/rl_rollouts_ray.py --engine processes  # a spawn process pool instead

Options: ``--workers N`` (default 4), ``--iterations N`` (default 5).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
PROMPTS = ["Once upon a time", "The answer is", "Dear diary,", "In a galaxy far away",
           "My favourite food", "The weather today", "A long road", "Hello there"]
GROUP = 4  # samples per prompt; advantages are centred within each group
MAX_TOKENS = 12
LEARNING_RATE = 5e-2
GOOD = frozenset(b"abcdefghijklmnopqrstuvwxyz ")


@dataclass(frozen=True)
class Rollout:
    """One scored continuation; ``worker`` (the pid that sampled it) is not part of the result."""

    prompt: tuple[int, ...]
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    reward: float
    worker: int = field(compare=False)


@dataclass(frozen=True)
class Job:
    prompt: tuple[int, ...]
    seed: int


def reward(tokens: Sequence[int]) -> float:
    return sum(t in GOOD for t in tokens) / max(len(tokens), 1)


def rollout(sampler: tinkex.SamplingClient, job: Job) -> list[Rollout]:
    """Sample and score one seeded group; runs in a worker."""
    params = types.SamplingParams(max_tokens=MAX_TOKENS, temperature=1.0, seed=job.seed)
    response = sampler.sample(types.ModelInput.from_ints(list(job.prompt)), num_samples=GROUP,
                              sampling_params=params).result()
    return [Rollout(job.prompt, tuple(s.tokens), tuple(s.logprobs or ()), reward(s.tokens),
                    os.getpid()) for s in response.sequences]


RolloutFn = Callable[[tinkex.SamplingClient, Job], list[Rollout]]


class RolloutWorkerDied(RuntimeError):
    """A worker process ended in the middle of a rollout; its results are lost."""


# ---- engines: where the rollouts run ---------------------------------------------------------


class Threads:
    """In this process, on threads: the baseline the fan-out must reproduce."""

    name = "threads in one process"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers)

    def map(self, fn: RolloutFn, sampler: tinkex.SamplingClient,
            jobs: Sequence[Job]) -> list[list[Rollout]]:
        return [f.result() for f in [self._pool.submit(fn, sampler, job) for job in jobs]]

    def close(self) -> None:
        self._pool.shutdown()


class Processes:
    """A spawn process pool (fresh interpreters, as on macOS and Windows)."""

    name = "process pool"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: RolloutFn, sampler: tinkex.SamplingClient,
            jobs: Sequence[Job]) -> list[list[Rollout]]:
        futures: list[Future[list[Rollout]]] = [self._pool.submit(fn, sampler, j) for j in jobs]
        try:
            return [f.result() for f in futures]
        except BrokenProcessPool as exc:
            raise RolloutWorkerDied(f"a rollout worker process died mid-rollout: {exc}") from exc

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class Ray:
    """Ray tasks on a local cluster of ``workers`` CPUs (``pip install 'tinkex[ray]'``)."""

    name = "Ray"

    def __init__(self, workers: int, **init: Any) -> None:
        try:
            import ray  # type: ignore[import-not-found, unused-ignore]  # an optional extra
        except ImportError:
            raise SystemExit("Ray is not installed: pip install 'tinkex[ray]' "
                             "(or run with --engine processes)") from None
        self._ray = ray
        self.workers = workers
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, **init)
        self._remote: dict[RolloutFn, Any] = {}

    def map(self, fn: RolloutFn, sampler: tinkex.SamplingClient,
            jobs: Sequence[Job]) -> list[list[Rollout]]:
        ray = self._ray
        task = self._remote.get(fn)
        if task is None:  # max_retries=0: a crashed worker fails its rollout, no silent rerun
            task = self._remote[fn] = ray.remote(num_cpus=1, max_retries=0)(fn)
        shared = ray.put(sampler)  # pickled once; each task unpickles its own copy
        try:
            results: list[list[Rollout]] = ray.get([task.remote(shared, job) for job in jobs])
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError) as exc:
            raise RolloutWorkerDied(f"a Ray rollout worker died mid-rollout: {exc}") from exc
        return results

    def close(self) -> None:
        self._ray.shutdown()


ENGINES = {"ray": Ray, "processes": Processes, "threads": Threads}


# ---- the trainer -----------------------------------------------------------------------------


def jobs_for(iteration: int, tokenizer: Any) -> list[Job]:
    return [Job(tuple(tokenizer.encode(p, add_special_tokens=True)), seed=1000 * iteration + i)
            for i, p in enumerate(PROMPTS)]


def datums(groups: Sequence[Sequence[Rollout]]) -> list[types.Datum]:
    """Policy-gradient data: sampled positions carry the advantage and the sampler's logprob."""
    out = []
    for group in groups:
        mean = sum(r.reward for r in group) / len(group)
        for r in group:
            if not r.tokens:
                continue
            tokens = [*r.prompt, *r.tokens]
            pad = len(r.prompt) - 1
            advantage = np.asarray([0.0] * pad + [r.reward - mean] * len(r.tokens), np.float32)
            logprobs = np.asarray([0.0] * pad + list(r.logprobs), np.float32)
            out.append(types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={
                    "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], np.int64)),
                    "logprobs": types.TensorData.from_numpy(logprobs),
                    "advantages": types.TensorData.from_numpy(advantage)}))
    return out


def train(engine: Any, iterations: int, fn: RolloutFn = rollout,
          check_against: Any = None) -> list[float]:
    """The loop; returns the mean reward of each iteration's rollouts.

    With ``check_against`` (an in-process engine), the first iteration's rollouts
    are also run there and must be identical.
    """
    rewards: list[float] = []
    with tinkex.ServiceClient() as service:
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=8, seed=0)
        tokenizer = training.get_tokenizer()
        adam = types.AdamParams(learning_rate=LEARNING_RATE)
        for iteration in range(iterations):
            started = time.perf_counter()
            sampler = training.save_weights_and_get_sampling_client()
            jobs = jobs_for(iteration, tokenizer)
            groups = engine.map(fn, sampler, jobs)
            seconds = time.perf_counter() - started
            if check_against is not None and iteration == 0:
                local = check_against.map(fn, sampler, jobs)
                if local != groups:
                    raise SystemExit(f"{engine.name} rollouts differ from the in-process ones")
                print(f"iteration 0: {engine.name} rollouts == in-process rollouts "
                      f"({sum(map(len, groups))} sequences)")
            rewards.append(float(np.mean([r.reward for g in groups for r in g])))
            workers = {r.worker for g in groups for r in g}
            batch = datums(groups)
            fwd_bwd = training.forward_backward(batch, "importance_sampling")
            optim = training.optim_step(adam)
            fwd_bwd.result()
            optim.result()
            print(f"iteration {iteration}: mean reward {rewards[-1]:.3f} from "
                  f"{len(batch)} rollouts on {len(workers)} worker(s) ({seconds:.2f} s)")
    return rewards


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(ENGINES), default="ray")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args(argv)
    engine = ENGINES[args.engine](args.workers)
    baseline = Threads(args.workers)
    try:
        rewards = train(engine, args.iterations, check_against=baseline)
    finally:
        baseline.close()
        engine.close()
    print(f"{engine.name} x {args.workers}: mean reward {rewards[0]:.3f} -> {rewards[-1]:.3f} "
          f"over {args.iterations} iterations")


if __name__ == "__main__":
    main()
