"""What training and sampling did, step by step, for the console: metrics and recent samples.

Every ``forward_backward`` / ``forward`` pass and every ``optim_step`` of a run
is recorded, and the last samples of each sampling session. Step ``n`` is the
``n``-th optimizer step of the run; a pass belongs to the step it feeds (the
next one), so a step's loss is the loss of the gradients that step applied.
The log has its own SQLite file and connection: it is written on the compute
threads after the work is done, and nothing of the API's state depends on it,
so it can never hold up or break a request (a failed write is logged, not raised).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("tinkex.emulator")

#: Samples kept per sampling session (older ones are dropped as new ones arrive).
SAMPLES_KEPT = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passes (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, created_at REAL NOT NULL,
    backward INTEGER NOT NULL, loss_fn TEXT NOT NULL, loss_sum REAL NOT NULL,
    tokens INTEGER NOT NULL, weight_sum REAL, datums INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS passes_by_run ON passes (run_id, step);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, created_at REAL NOT NULL,
    learning_rate REAL, grad_norm REAL, param_norm REAL, update_norm REAL,
    PRIMARY KEY (run_id, step));
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sampler_id TEXT NOT NULL, created_at REAL NOT NULL,
    prompt TEXT NOT NULL, params TEXT NOT NULL, completions TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_by_sampler ON samples (sampler_id, id);
"""

_NEXT_STEP = "(SELECT COALESCE(MAX(step), 0) + 1 FROM steps WHERE run_id = ?)"

# One row per completed step, with the loss of the passes that fed it (NULL if none did).
_STEPS = """
SELECT s.step, s.created_at, s.learning_rate, s.grad_norm, s.param_norm, s.update_norm,
       t.loss_sum, t.weight_sum, t.tokens, e.loss_sum AS eval_sum, e.weight_sum AS eval_weight,
       e.tokens AS eval_tokens
FROM steps s
LEFT JOIN (SELECT step, SUM(loss_sum) loss_sum, SUM(weight_sum) weight_sum, SUM(tokens) tokens
           FROM passes WHERE run_id = ? AND backward = 1 GROUP BY step) t ON t.step = s.step
LEFT JOIN (SELECT step, SUM(loss_sum) loss_sum, SUM(weight_sum) weight_sum, SUM(tokens) tokens
           FROM passes WHERE run_id = ? AND backward = 0 GROUP BY step) e ON e.step = s.step
WHERE s.run_id = ? ORDER BY s.step
"""


@dataclass(frozen=True)
class Step:
    """One optimizer step and the passes that fed it."""

    step: int
    time: float
    loss: float | None       # mean per (weighted) token of the forward_backward passes
    tokens: int              # tokens of those passes
    learning_rate: float | None
    grad_norm: float | None
    param_norm: float | None
    update_norm: float | None
    eval_loss: float | None  # the same mean for forward-only passes before this step


@dataclass(frozen=True)
class Sample:
    time: float
    prompt: str
    params: dict[str, Any]
    completions: list[dict[str, Any]]  # {"text": ..., "stop_reason": ...}


def _mean(loss_sum: float | None, weight_sum: float | None, tokens: int | None) -> float | None:
    """Loss per unit of weight (cross-entropy style), else per token."""
    if loss_sum is None:
        return None
    if weight_sum:
        return float(loss_sum / weight_sum)
    return float(loss_sum / tokens) if tokens else float(loss_sum)


class History:
    """The log; every method is safe to call from any thread."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # A lost last step after a power cut is acceptable for a log; a sync per write is not.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Run ``statements`` as one transaction; a failure is logged and rolled back."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
                for sql, args in statements:
                    self._db.execute(sql, tuple(args))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                log.exception("could not record training history")
                try:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # closed: nothing to roll back

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- recording ------------------------------------------------------------------

    def record_pass(self, run_id: str, backward: bool, loss_fn: str, loss_sum: float,
                    tokens: int, weight_sum: float | None, datums: int) -> None:
        """A forward(-backward) pass; it belongs to the run's next optimizer step."""
        self._write([(f"INSERT INTO passes VALUES (?, {_NEXT_STEP}, ?, ?, ?, ?, ?, ?, ?)",
                      (run_id, run_id, time.time(), int(backward), loss_fn, loss_sum, tokens,
                       weight_sum, datums))])

    def record_step(self, run_id: str, learning_rate: float | None,
                    metrics: Mapping[str, float]) -> None:
        """An optimizer step (its ``*:mean`` norms as the emulator's AdamW reports them)."""
        self._write([(f"INSERT INTO steps VALUES (?, {_NEXT_STEP}, ?, ?, ?, ?, ?)",
                      (run_id, run_id, time.time(), learning_rate,
                       metrics.get("grad_norm:mean"), metrics.get("param_norm:mean"),
                       metrics.get("update_norm:mean")))])

    def record_sample(self, sampler_id: str, prompt: str, params: Mapping[str, Any],
                      completions: Sequence[Mapping[str, Any]]) -> None:
        self._write([
            ("INSERT INTO samples (sampler_id, created_at, prompt, params, completions) "
             "VALUES (?, ?, ?, ?, ?)",
             (sampler_id, time.time(), prompt, json.dumps(dict(params)),
              json.dumps(list(completions)))),
            ("DELETE FROM samples WHERE sampler_id = ? AND id <= (SELECT id FROM samples "
             "WHERE sampler_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
             (sampler_id, sampler_id, SAMPLES_KEPT)),
        ])

    # -- reading --------------------------------------------------------------------

    def steps(self, run_id: str) -> list[Step]:
        rows = self._all(_STEPS, (run_id, run_id, run_id))
        return [Step(step=r[0], time=r[1], learning_rate=r[2], grad_norm=r[3], param_norm=r[4],
                     update_norm=r[5], loss=_mean(r[6], r[7], r[8]), tokens=int(r[8] or 0),
                     eval_loss=_mean(r[9], r[10], r[11]))
                for r in rows]

    def last_steps(self, run_ids: Sequence[str]) -> dict[str, int]:
        """The number of completed steps of each run (runs without any are left out)."""
        if not run_ids:
            return {}
        marks = ", ".join("?" * len(run_ids))
        rows = self._all(f"SELECT run_id, MAX(step) FROM steps WHERE run_id IN ({marks}) "
                         "GROUP BY run_id", run_ids)
        return {r[0]: int(r[1]) for r in rows}

    def samples(self, sampler_id: str, limit: int = SAMPLES_KEPT) -> list[Sample]:
        """The newest samples first."""
        rows = self._all("SELECT created_at, prompt, params, completions FROM samples "
                         "WHERE sampler_id = ? ORDER BY id DESC LIMIT ?", (sampler_id, limit))
        return [Sample(r[0], r[1], json.loads(r[2]), json.loads(r[3])) for r in rows]

    def sample_counts(self, sampler_ids: Sequence[str]) -> dict[str, int]:
        if not sampler_ids:
            return {}
        marks = ", ".join("?" * len(sampler_ids))
        rows = self._all(f"SELECT sampler_id, COUNT(*) FROM samples WHERE sampler_id IN "
                         f"({marks}) GROUP BY sampler_id", sampler_ids)
        return {r[0]: int(r[1]) for r in rows}
