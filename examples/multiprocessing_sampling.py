"""Sample from several processes: a pickled SamplingClient in ``multiprocessing`` spawn workers.

A ``SamplingClient`` is picklable. The copy a worker unpickles opens its own
connections, joins the same server session and numbers its requests in its own
block, so any number of processes can sample from one sampler at once. Here it
is handed to each worker of a spawn-based ``ProcessPoolExecutor`` once, through
the pool's initializer.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/multiprocessing_sampling.py
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor

import tinkex
from tinkex import types
from tinkex.tokenizers import Tokenizer

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")
NUM_WORKERS = 2
PROMPTS = ["Once upon a time", "In a galaxy far away", "The answer is", "Dear diary,"]

# Set in each worker process by init_worker.
_sampler: tinkex.SamplingClient | None = None


def init_worker(sampler: tinkex.SamplingClient) -> None:
    global _sampler
    _sampler = sampler


def sample_in_worker(prompt: str) -> tuple[int, str, str]:
    """Runs in a worker: sample a continuation of ``prompt``; return (pid, prompt, text)."""
    assert _sampler is not None, "init_worker did not run"
    tokenizer: Tokenizer = _sampler.get_tokenizer()
    params = types.SamplingParams(max_tokens=16, temperature=0.7, seed=7)
    response = _sampler.sample(types.ModelInput.from_ints(tokenizer.encode(prompt)),
                               num_samples=1, sampling_params=params).result()
    return os.getpid(), prompt, tokenizer.decode(response.sequences[0].tokens)


def main() -> None:
    with tinkex.ServiceClient() as service:
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        print(f"sampler {sampler.sampling_session_id}: pickles to {len(pickle.dumps(sampler))} bytes")

        spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as on macOS/Windows
        with ProcessPoolExecutor(NUM_WORKERS, mp_context=spawn, initializer=init_worker,
                                 initargs=(sampler,)) as pool:
            results = list(pool.map(sample_in_worker, PROMPTS))

        for pid, prompt, text in results:
            print(f"  worker {pid}: {prompt!r} -> {text!r}")
        pids = {pid for pid, _, _ in results}
        print(f"sampled {len(results)} prompts in {len(pids)} worker process(es) "
              f"(parent {os.getpid()})")
        if os.getpid() in pids:
            raise SystemExit("sampling ran in the parent, not in the workers")


if __name__ == "__main__":
    main()
