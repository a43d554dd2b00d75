"""Automatic recovery (opt-in): rebuild a training client from a checkpoint when its run is corrupted.

The server marks a run ``corrupted`` when it can no longer train it (its
training requests then fail). Three parts, usable together or alone:

* :class:`RecoveryPolicy`: how hard to try (attempts, backoff), which checkpoint
  (the run's latest, or a given ``tinker://`` path), whether to restore the
  optimizer state, and callbacks.
* :class:`RecoveryExecutor`: ``recover(run_id)`` picks the checkpoint and
  creates a new training client from it, retrying with backoff.
* :class:`RecoveryMonitor`: watches training clients, polling their runs every
  ``poll_interval`` seconds on one background thread (owned by the
  ServiceClient: closing it stops the monitor), and hands each new client to
  the program (``on_recovery`` and :meth:`RecoveryMonitor.current`).

Checkpoints are the program's to make (``save_state``): recovery restores the
newest one, so training resumes from there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinkex.core.errors import InvalidArgumentError
from tinkex.core.lifecycle import join_threads, start_daemon
from tinkex.training_client import TrainingClient

if TYPE_CHECKING:
    from tinkex.service_client import ServiceClient

log = logging.getLogger("tinkex.recovery")

LATEST = "latest"


class RecoveryError(RuntimeError):
    """Recovery gave up: no checkpoint to restore, or every attempt failed."""

    def __init__(self, message: str, run_id: str, attempts: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.attempts = attempts


@dataclass(frozen=True)
class RecoveryPolicy:
    max_attempts: int = 3
    backoff: float = 5.0
    """Seconds before the second attempt, doubling after each failure, up to ``backoff_max``."""
    backoff_max: float = 60.0
    poll_interval: float = 30.0
    checkpoint: str = LATEST
    """``"latest"``: the run's newest training checkpoint; else a ``tinker://`` weights path."""
    restore_optimizer: bool = True
    on_recovery: Callable[[TrainingClient, TrainingClient, str], None] | None = None
    """``(old client, new client, checkpoint path)`` after each recovery."""
    on_failure: Callable[[str, BaseException], None] | None = None
    """``(run id, last error)`` when recovery gives up."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArgumentError("max_attempts must be at least 1")
        if self.backoff < 0 or self.backoff_max < 0 or self.poll_interval <= 0:
            raise InvalidArgumentError("backoff and backoff_max must be >= 0, poll_interval > 0")
        if self.checkpoint != LATEST and not self.checkpoint.startswith("tinker://"):
            raise InvalidArgumentError(f"checkpoint must be 'latest' or a tinker:// path, "
                             f"not {self.checkpoint!r}")


class RecoveryExecutor:
    """Creates the replacement training client of a corrupted run."""

    def __init__(self, service: ServiceClient, policy: RecoveryPolicy | None = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.service = service
        self.policy = policy or RecoveryPolicy()
        self._sleep = sleep
        self._rest = service.create_rest_client()

    def checkpoint_for(self, run_id: str) -> str:
        """The path to restore ``run_id`` from, by the policy."""
        if self.policy.checkpoint != LATEST:
            return self.policy.checkpoint
        run = self._rest.get_training_run(run_id).result()
        if run.last_checkpoint is None or not run.last_checkpoint.tinker_path:
            raise RecoveryError(f"run {run_id} has no training checkpoint to recover from "
                                "(save_state makes one)", run_id, 0)
        return run.last_checkpoint.tinker_path

    def recover(self, run_id: str, old: TrainingClient | None = None) -> TrainingClient:
        """A new training client restored from the policy's checkpoint; RecoveryError if not."""
        policy = self.policy
        delay = policy.backoff
        last: BaseException | None = None
        for attempt in range(1, policy.max_attempts + 1):
            try:
                path = self.checkpoint_for(run_id)
                log.info("recovering run %s from %s (attempt %d)", run_id, path, attempt)
                if policy.restore_optimizer:
                    new = self.service.create_training_client_from_state_with_optimizer(path)
                else:
                    new = self.service.create_training_client_from_state(path)
            except RecoveryError as exc:
                last = exc
                break
            except Exception as exc:
                last = exc
                log.warning("recovery of run %s failed (attempt %d of %d): %s", run_id, attempt,
                            policy.max_attempts, exc)
                if attempt < policy.max_attempts:
                    self._sleep(delay)
                    delay = min(delay * 2, policy.backoff_max)
                continue
            if policy.on_recovery is not None and old is not None:
                policy.on_recovery(old, new, path)
            return new
        assert last is not None
        if policy.on_failure is not None:
            policy.on_failure(run_id, last)
        if isinstance(last, RecoveryError):
            raise last
        raise RecoveryError(f"could not recover run {run_id} after {policy.max_attempts} "
                            f"attempt(s): {last}", run_id, policy.max_attempts) from last


class RecoveryMonitor:
    """Polls watched runs; when one is corrupted, recovers it and hands on the new client.

    Start it with :meth:`watch`; :meth:`check` runs one round now (on the
    caller's thread). ``close()`` (or closing the ServiceClient) stops the thread.
    """

    def __init__(self, service: ServiceClient, policy: RecoveryPolicy | None = None,
                 executor: RecoveryExecutor | None = None) -> None:
        self.policy = policy or (executor.policy if executor else RecoveryPolicy())
        self.executor = executor or RecoveryExecutor(service, self.policy)
        self._rest = service.create_rest_client()
        self._watched: dict[str, TrainingClient] = {}
        self._current: dict[str, TrainingClient] = {}
        self._failed: dict[str, BaseException] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recoveries = 0
        service._ctx.owner.own(self)

    def watch(self, client: TrainingClient) -> None:
        """Watch ``client``'s run (starting the polling thread on first use)."""
        with self._lock:
            self._watched[client.model_id] = client
            self._current.setdefault(client.model_id, client)
            if self._thread is None and not self._stop.is_set():
                self._thread = start_daemon("recovery-monitor", self._loop)

    def current(self, client: TrainingClient) -> TrainingClient:
        """The client to train with now: ``client``, or the one that replaced it.

        Raises RecoveryError when its recovery gave up.
        """
        with self._lock:
            root = client.model_id
            for original, replacement in self._current.items():
                if replacement.model_id == client.model_id:
                    root = original
            error = self._failed.get(root)
            if error is not None:
                raise error
            return self._current.get(root, client)

    def check(self) -> int:
        """One round: poll every watched run, recover the corrupted ones; the number recovered."""
        with self._lock:
            watched = list(self._watched.items())
        recovered = 0
        for original, client in watched:
            try:
                run = self._rest.get_training_run(client.model_id).result()
            except Exception as exc:  # a failed poll is retried next round
                log.warning("polling run %s failed: %s", client.model_id, exc)
                continue
            if not run.corrupted:
                continue
            log.warning("run %s is corrupted; recovering", client.model_id)
            try:
                new = self.executor.recover(client.model_id, client)
            except Exception as exc:
                with self._lock:
                    self._failed[original] = exc
                    self._watched.pop(original, None)
                continue
            with self._lock:
                self._watched[original] = new
                self._current[original] = new
                self.recoveries += 1
            recovered += 1
        return recovered

    def _loop(self) -> None:
        while not self._stop.wait(self.policy.poll_interval):
            self.check()

    # ---- lifecycle (a Background component of the ServiceClient) -------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, deadline: float) -> None:
        join_threads([self._thread], deadline)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._thread = None

    def close(self) -> None:
        self.request_stop()
        self.join(time.monotonic() + 5)

    def __enter__(self) -> RecoveryMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["RecoveryError", "RecoveryExecutor", "RecoveryMonitor", "RecoveryPolicy"]
