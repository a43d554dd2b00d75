"""What happened, for the admin views: usage, storage intervals, audit events, request timings.

Rows are appended by the operations as they run (the real work, not a
summary): training tokens of each forward/backward pass, prompt and sampled
tokens of each sample, each checkpoint written and how long its bytes were
kept, each audited action, and when each request was submitted, started and
finished. Billing, storage usage, the audit log and session traces are all
computed from these rows. Times are wall-clock seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    owner TEXT NOT NULL, session_id TEXT, base_model TEXT, kind TEXT NOT NULL,
    cached INTEGER NOT NULL DEFAULT 0, quantity REAL NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS usage_by_owner ON usage (owner, at);
CREATE TABLE IF NOT EXISTS storage (
    owner TEXT NOT NULL, session_id TEXT, base_model TEXT, run_id TEXT NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    start REAL NOT NULL, stop REAL);
CREATE TABLE IF NOT EXISTS audit (
    org_owner TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, details TEXT NOT NULL,
    model_id TEXT, tinker_path TEXT, purpose TEXT);
CREATE INDEX IF NOT EXISTS audit_by_owner ON audit (org_owner, at);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, owner TEXT NOT NULL, session_id TEXT, request_type TEXT,
    target TEXT, submitted REAL NOT NULL, started REAL, finished REAL, state TEXT);
CREATE INDEX IF NOT EXISTS requests_by_session ON requests (session_id, submitted);
CREATE TABLE IF NOT EXISTS projects (
    project_id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_keys (key_hash TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS custom_losses (
    loss_id TEXT PRIMARY KEY, owner TEXT NOT NULL, session_id TEXT NOT NULL, name TEXT NOT NULL,
    inputs TEXT NOT NULL, graph TEXT NOT NULL, created_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class UsageRow:
    owner: str
    session_id: str | None
    base_model: str | None
    kind: str
    cached: bool
    quantity: float
    at: float


@dataclass(frozen=True)
class StorageRow:
    owner: str
    session_id: str | None
    base_model: str | None
    size_bytes: int
    start: float
    stop: float | None


@dataclass(frozen=True)
class AuditRow:
    at: float
    event: str
    details: dict[str, Any]
    model_id: str | None
    tinker_path: str | None
    purpose: str | None


@dataclass(frozen=True)
class RequestRow:
    request_id: str
    request_type: str | None
    target: str | None
    submitted: float
    started: float | None
    finished: float | None
    state: str | None


@dataclass(frozen=True)
class CustomLoss:
    loss_id: str
    owner: str
    session_id: str
    name: str
    inputs: list[dict[str, Any]]
    graph: dict[str, Any]


class Ledger:
    def __init__(self, store: Store):
        self._db = store
        store.script(_SCHEMA)
        store.add_columns("requests", {"seq_id": "INTEGER"})

    # -- usage and storage -------------------------------------------------------------

    def use(self, owner: str, session_id: str | None, base_model: str | None, kind: str,
            quantity: float, cached: bool = False) -> None:
        if quantity > 0:
            self._db.execute("INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (owner, session_id, base_model, kind, int(cached), quantity,
                              time.time()))

    def usage(self, owner: str, start: float, stop: float) -> list[UsageRow]:
        rows = self._db.all("SELECT * FROM usage WHERE owner = ? AND at >= ? AND at < ? "
                            "ORDER BY at", (owner, start, stop))
        return [UsageRow(r["owner"], r["session_id"], r["base_model"], r["kind"],
                         bool(r["cached"]), r["quantity"], r["at"]) for r in rows]

    def stored(self, owner: str, session_id: str | None, base_model: str | None, run_id: str,
               kind: str, name: str, size_bytes: int) -> None:
        """A checkpoint's bytes start being kept (any earlier interval for it ends)."""
        self.released(run_id, kind, name)
        self._db.execute("INSERT INTO storage VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                         (owner, session_id, base_model, run_id, kind, name, size_bytes,
                          time.time()))

    def released(self, run_id: str, kind: str, name: str, at: float | None = None) -> None:
        self._db.execute("UPDATE storage SET stop = ? WHERE run_id = ? AND kind = ? AND "
                         "name = ? AND stop IS NULL",
                         (time.time() if at is None else at, run_id, kind, name))

    def storage(self, owner: str, start: float, stop: float) -> list[StorageRow]:
        rows = self._db.all("SELECT * FROM storage WHERE owner = ? AND start < ? AND "
                            "(stop IS NULL OR stop > ?)", (owner, stop, start))
        return [StorageRow(r["owner"], r["session_id"], r["base_model"], r["size_bytes"],
                           r["start"], r["stop"]) for r in rows]

    # -- audit ---------------------------------------------------------------------------

    def audit(self, org_owner: str, event: str, details: dict[str, Any], *,
              model_id: str | None = None, tinker_path: str | None = None,
              purpose: str | None = None) -> None:
        self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (org_owner, time.time(), event, json.dumps(details, sort_keys=True),
                          model_id, tinker_path, purpose))

    def audit_log(self, org_owner: str, start: float | None = None,
                  stop: float | None = None) -> list[AuditRow]:
        rows = self._db.all("SELECT * FROM audit WHERE org_owner = ? AND at >= ? AND at < ? "
                            "ORDER BY at, rowid",
                            (org_owner, start if start is not None else float("-inf"),
                             stop if stop is not None else float("inf")))
        return [AuditRow(r["at"], r["event"], json.loads(r["details"]), r["model_id"],
                         r["tinker_path"], r["purpose"]) for r in rows]

    # -- request timings (session traces) ------------------------------------------------

    def submitted(self, request_id: str, owner: str, session_id: str | None,
                  request_type: str, target: str | None, seq_id: int | None = None) -> None:
        self._db.execute("INSERT OR IGNORE INTO requests (request_id, owner, session_id, "
                         "request_type, target, submitted, seq_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (request_id, owner, session_id, request_type, target, time.time(),
                          seq_id))

    def failed_unrun(self, request_id: str) -> None:
        """A request refused after it was accepted (never run): not lost in a restart."""
        self._db.execute("UPDATE requests SET state = 'failed' "
                         "WHERE request_id = ? AND state IS NULL", (request_id,))

    def lost_in_restart(self) -> list[tuple[str, str, int | None]]:
        """Requests accepted before the last stop that never ran: ``(request_id, target,
        seq_id)``. They are marked ``lost`` (once: the next start does not see them again)."""
        rows = self._db.all("SELECT request_id, target, seq_id FROM requests "
                            "WHERE state IS NULL")
        self._db.execute("UPDATE requests SET state = 'lost' WHERE state IS NULL")
        return [(r["request_id"], r["target"], r["seq_id"]) for r in rows]

    def ran(self, request_id: str, started: float, finished: float, state: str) -> None:
        self._db.execute("UPDATE requests SET started = ?, finished = ?, state = ? "
                         "WHERE request_id = ?", (started, finished, state, request_id))

    def requests(self, session_id: str) -> list[RequestRow]:
        rows = self._db.all("SELECT * FROM requests WHERE session_id = ? ORDER BY submitted",
                            (session_id,))
        return [RequestRow(r["request_id"], r["request_type"], r["target"], r["submitted"],
                           r["started"], r["finished"], r["state"]) for r in rows]

    # -- projects, revoked keys, custom losses -------------------------------------------

    def project_owner(self, project_id: str, claim_for: str | None = None) -> str | None:
        """The account a project belongs to; the first account to use an id claims it."""
        if claim_for is not None:
            self._db.execute("INSERT OR IGNORE INTO projects VALUES (?, ?, ?)",
                             (project_id, claim_for, time.time()))
        row = self._db.one("SELECT owner FROM projects WHERE project_id = ?", (project_id,))
        return None if row is None else str(row[0])

    def projects(self, owner: str) -> list[str]:
        return [r[0] for r in self._db.all("SELECT project_id FROM projects WHERE owner = ?",
                                           (owner,))]

    def revoke(self, key_hash: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO revoked_keys VALUES (?, ?)",
                         (key_hash, time.time()))

    def is_revoked(self, key_hash: str) -> bool:
        return self._db.one("SELECT 1 FROM revoked_keys WHERE key_hash = ?",
                            (key_hash,)) is not None

    def add_custom_loss(self, loss: CustomLoss) -> None:
        self._db.execute("INSERT OR IGNORE INTO custom_losses VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (loss.loss_id, loss.owner, loss.session_id, loss.name,
                          json.dumps(loss.inputs), json.dumps(loss.graph), time.time()))

    def custom_loss(self, loss_id: str) -> CustomLoss | None:
        r = self._db.one("SELECT * FROM custom_losses WHERE loss_id = ?", (loss_id,))
        if r is None:
            return None
        return CustomLoss(r["loss_id"], r["owner"], r["session_id"], r["name"],
                          json.loads(r["inputs"]), json.loads(r["graph"]))
