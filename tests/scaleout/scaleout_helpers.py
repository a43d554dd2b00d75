"""What the scale-out tests run in pool and Ray workers (importable there by name)."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tinkex
from tinkex import _worker_context as worker_context
from tinkex import types

PARAMS = types.SamplingParams(max_tokens=6, temperature=1.0, seed=11)

_inherited: tinkex.SamplingClient | None = None


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0,
               left: Callable[[], object] | None = None) -> None:
    """Poll ``condition`` until it holds; on timeout, say what is ``left`` if given."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f": {left()}" if left is not None else ""
            raise AssertionError(f"timed out waiting for {what}{detail}")
        time.sleep(0.02)


def sample_tokens(sampler: tinkex.SamplingClient, prompt: list[int],
                  seed: int = 11) -> tuple[list[int], list[float]]:
    params = types.SamplingParams(max_tokens=6, temperature=1.0, seed=seed)
    response = sampler.sample(types.ModelInput.from_ints(prompt), 1, params).result()
    [sequence] = response.sequences
    return list(sequence.tokens), list(sequence.logprobs or [])


def keep_inherited(sampler: tinkex.SamplingClient) -> None:
    """Pool initializer: with fork, ``sampler`` is the parent's object itself, not a copy."""
    global _inherited
    _inherited = sampler


def sample_inherited(prompt: list[int]) -> tuple[int, list[int]]:
    assert _inherited is not None
    return os.getpid(), sample_tokens(_inherited, prompt)[0]


def tinkex_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("tinkex-"))


def sample_and_report_close(payload: bytes, marker: str) -> tuple[int, list[str], list[str]]:
    """Sample through a copy, then write ``marker`` when this process closes its connection.

    Returns the pid and the tinkex threads before and after sampling.
    """
    sampler = pickle.loads(payload)
    idle = tinkex_threads()
    sample_tokens(sampler, [256, 72, 105])
    [context] = worker_context.shared_contexts()
    close = context.close

    def close_and_report(status: Any = None) -> None:
        close(status)
        Path(marker).write_text(f"closed={context.closed} pid={os.getpid()}")

    object.__setattr__(context, "close", close_and_report)  # instrument the immutable context
    return os.getpid(), idle, tinkex_threads()


class ReportingActor:
    """A Ray actor that samples through a copy; its graceful exit must close the connection."""

    def run(self, payload: bytes, marker: str) -> tuple[int, list[str], list[str]]:
        return sample_and_report_close(payload, marker)


def die_mid_rollout(sampler: tinkex.SamplingClient, job: Any) -> list[Any]:
    """A rollout whose worker is killed after it submitted its sample, before the result."""
    sampler.sample(types.ModelInput.from_ints(list(job.prompt)), 1, PARAMS)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the worker was killed")
