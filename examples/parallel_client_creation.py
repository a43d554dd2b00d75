"""Create many clients at once: with your own threads, or with the ``*_future`` twins.

Each creation is a round trip (a training client waits for its model to be
created). The ``ServiceClient`` is thread-safe, so a ``ThreadPoolExecutor`` can
create clients in parallel; the non-blocking twins
(``create_sampling_client_future``, ``create_lora_training_client_future``,
``create_training_client_from_state_future``) do the same without any thread
management and return ``APIFuture``s that work with ``concurrent.futures.wait``.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/parallel_client_creation.py
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Sequence
from typing import Any

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
NUM_SAMPLERS = 4
NUM_TRAINERS = 2


def sample_one_token(samplers: Sequence[tinkex.SamplingClient]) -> list[int]:
    """One greedy token from each sampler, all requests in flight together."""
    prompt = types.ModelInput.from_ints([104, 105])  # "hi"
    params = types.SamplingParams(max_tokens=1, temperature=0.0)
    futures = [s.sample(prompt, num_samples=1, sampling_params=params) for s in samplers]
    return [f.result().sequences[0].tokens[0] for f in futures]


def with_threads(service: tinkex.ServiceClient) -> None:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=NUM_SAMPLERS + NUM_TRAINERS) as pool:
        samplers = [pool.submit(service.create_sampling_client, base_model=BASE_MODEL)
                    for _ in range(NUM_SAMPLERS)]
        trainers = [pool.submit(service.create_lora_training_client, BASE_MODEL, rank=4)
                    for _ in range(NUM_TRAINERS)]
        sampling_clients = [f.result() for f in samplers]
        training_clients = [f.result() for f in trainers]
    elapsed = time.perf_counter() - started
    print(f"threads: {len(sampling_clients)} sampling + {len(training_clients)} training clients "
          f"in {elapsed:.2f} s: {[t.model_id for t in training_clients]}")
    print(f"  one token from each sampler: {sample_one_token(sampling_clients)}")


def with_futures(service: tinkex.ServiceClient) -> None:
    started = time.perf_counter()
    samplers = [service.create_sampling_client_future(base_model=BASE_MODEL)
                for _ in range(NUM_SAMPLERS)]
    trainers = [service.create_lora_training_client_future(BASE_MODEL, rank=4)
                for _ in range(NUM_TRAINERS)]
    # APIFutures are concurrent.futures.Future objects: wait for all of them at once.
    pending: list[concurrent.futures.Future[Any]] = [*samplers, *trainers]
    _, not_done = concurrent.futures.wait(pending, timeout=60)
    if not_done:
        raise SystemExit(f"{len(not_done)} clients were not created within 60 s")
    sampling_clients = [f.result() for f in samplers]
    training_clients = [f.result() for f in trainers]
    elapsed = time.perf_counter() - started
    print(f"futures: {len(sampling_clients)} sampling + {len(training_clients)} training clients "
          f"in {elapsed:.2f} s")

    # Restore two clients from one checkpoint, also without blocking.
    path = training_clients[0].save_state("parallel-seed").result().path
    restored = [service.create_training_client_from_state_future(path) for _ in range(2)]
    print(f"  restored from {path}: {[f.result().model_id for f in restored]}")
    print(f"  one token from each sampler: {sample_one_token(sampling_clients)}")


def main() -> None:
    with tinkex.ServiceClient() as service:
        with_threads(service)
        with_futures(service)
    print("parallel client creation done")


if __name__ == "__main__":
    main()
