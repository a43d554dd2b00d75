"""Durable state in SQLite: sessions, training runs, checkpoints and samplers, with owners.

One connection guarded by a lock: the event loop and the compute threads both
write, every statement is short, and a single connection keeps SQLite's
locking out of the picture. Weights themselves are files (see :mod:`.weights`);
rows only name them. Times are wall-clock seconds so that they survive a
restart. Expired checkpoints are invisible to every query before they are purged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at REAL NOT NULL,
    sdk_version TEXT, tags TEXT, user_metadata TEXT, project_id TEXT, display_name TEXT,
    finished_reason TEXT, finished_detail TEXT);
CREATE TABLE IF NOT EXISTS training_runs (
    run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, session_id TEXT NOT NULL,
    base_model TEXT NOT NULL, lora TEXT NOT NULL, user_metadata TEXT,
    created_at REAL NOT NULL, last_request_time REAL NOT NULL, last_seq_id INTEGER);
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, owner TEXT NOT NULL,
    created_at REAL NOT NULL, size_bytes INTEGER NOT NULL, public INTEGER NOT NULL DEFAULT 0,
    user_metadata TEXT, expires_at REAL, storage_key TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, name));
CREATE TABLE IF NOT EXISTS samplers (
    sampler_id TEXT PRIMARY KEY, owner TEXT NOT NULL, session_id TEXT NOT NULL,
    base_model TEXT NOT NULL, model_path TEXT, weights_key TEXT, created_at REAL NOT NULL,
    source_run_id TEXT);
CREATE TABLE IF NOT EXISTS sampler_clients (
    sampler_id TEXT PRIMARY KEY, last_counter INTEGER NOT NULL);
"""

_LIVE = "(expires_at IS NULL OR expires_at > ?)"

# Columns added after a table's first release: (table, column, type), applied to older files.
_ADDED_COLUMNS = [("samplers", "source_run_id", "TEXT"), ("sessions", "last_seen", "REAL"),
                  ("training_runs", "frozen", "INTEGER NOT NULL DEFAULT 0")]


@dataclass(frozen=True)
class Session:
    session_id: str
    owner: str
    created_at: float
    user_metadata: dict[str, Any] | None
    display_name: str | None
    finished_reason: str | None
    sdk_version: str | None = None
    tags: list[str] | None = None
    project_id: str | None = None
    finished_detail: str | None = None
    last_seen: float | None = None


@dataclass(frozen=True)
class Run:
    run_id: str
    owner: str
    session_id: str
    base_model: str
    lora: dict[str, Any]
    user_metadata: dict[str, Any] | None
    last_request_time: float
    last_seq_id: int | None
    created_at: float
    frozen: bool = False
    """A copy made by copy_weights: it holds weights but cannot be trained on."""


@dataclass(frozen=True)
class Checkpoint:
    run_id: str
    kind: str
    name: str
    owner: str
    created_at: float
    size_bytes: int
    public: bool
    user_metadata: dict[str, str] | None
    expires_at: float | None
    storage_key: str


@dataclass(frozen=True)
class Sampler:
    sampler_id: str
    owner: str
    session_id: str
    base_model: str
    model_path: str | None
    weights_key: str | None
    created_at: float = 0.0
    source_run_id: str | None = None  # the training run whose weights it samples


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _unjson(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Store:
    """All SQL lives here; callers get frozen dataclasses back."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            for table, column, kind in _ADDED_COLUMNS:
                names = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in names:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # The statement helpers are shared with the other tables' modules (ledger, accounts),
    # which keep their SQL to themselves but use this one connection and lock.

    def all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = self.all(sql, args)
        return rows[0] if rows else None

    def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(args)).rowcount

    def script(self, sql: str) -> None:
        with self._lock:
            self._db.executescript(sql)

    def add_columns(self, table: str, columns: dict[str, str]) -> None:
        """Add missing columns (a data dir written by an older emulator lacks them)."""
        with self._lock:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")

    _all, _one = all, one

    # -- settings -------------------------------------------------------------------

    def setting(self, key: str, make: Any) -> str:
        """The stored value of ``key``, created with ``make()`` on first use."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO settings VALUES (?, ?)", (key, make()))
            return str(self._db.execute("SELECT value FROM settings WHERE key = ?",
                                        (key,)).fetchone()[0])

    # -- sessions -------------------------------------------------------------------

    def add_session(self, session_id: str, owner: str, sdk_version: str, tags: list[str],
                    user_metadata: dict[str, Any] | None, project_id: str | None,
                    display_name: str | None) -> None:
        self.execute("INSERT INTO sessions (session_id, owner, created_at, sdk_version, tags, "
                  "user_metadata, project_id, display_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (session_id, owner, time.time(), sdk_version, _json(tags),
                   _json(user_metadata), project_id, display_name))

    @staticmethod
    def _as_session(row: sqlite3.Row) -> Session:
        return Session(row["session_id"], row["owner"], row["created_at"],
                       _unjson(row["user_metadata"]), row["display_name"], row["finished_reason"],
                       row["sdk_version"], _unjson(row["tags"]), row["project_id"],
                       row["finished_detail"], row["last_seen"])

    def session(self, session_id: str) -> Session | None:
        row = self._one("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        return None if row is None else self._as_session(row)

    def owned_sessions(self, owner: str) -> list[Session]:
        """All of an owner's sessions, newest first (search filters them in Python)."""
        return [self._as_session(r) for r in self.all(
            "SELECT * FROM sessions WHERE owner = ? ORDER BY created_at DESC, session_id DESC",
            (owner,))]

    def touch_session(self, session_id: str) -> None:
        self.execute("UPDATE sessions SET last_seen = ? WHERE session_id = ?",
                     (time.time(), session_id))

    def set_session_project(self, session_id: str, project_id: str) -> None:
        self.execute("UPDATE sessions SET project_id = ? WHERE session_id = ?",
                     (project_id, session_id))

    def finish_session(self, session_id: str, reason: str, detail: str | None) -> None:
        """Record the first finish reason only; later ones are ignored."""
        self.execute("UPDATE sessions SET finished_reason = ?, finished_detail = ? "
                  "WHERE session_id = ? AND finished_reason IS NULL", (reason, detail, session_id))

    def sessions(self, owner: str, offset: int, limit: int) -> list[str]:
        return [s.session_id for s in self.session_rows(owner, offset, limit)[0]]

    def session_rows(self, owner: str, offset: int, limit: int) -> tuple[list[Session], int]:
        """One page of the owner's sessions, newest first, and how many there are."""
        total = self._one("SELECT COUNT(*) FROM sessions WHERE owner = ?", (owner,))
        rows = self._all("SELECT * FROM sessions WHERE owner = ? "
                         "ORDER BY created_at DESC, session_id LIMIT ? OFFSET ?",
                         (owner, limit, offset))
        return [self._as_session(r) for r in rows], int(total[0]) if total else 0

    def session_children(self, session_id: str) -> tuple[list[str], list[str]]:
        runs = self._all("SELECT run_id FROM training_runs WHERE session_id = ? "
                         "ORDER BY created_at", (session_id,))
        samplers = self._all("SELECT sampler_id FROM samplers WHERE session_id = ? "
                             "ORDER BY created_at", (session_id,))
        return [r[0] for r in runs], [r[0] for r in samplers]

    def session_checkpoints(self, session_id: str) -> tuple[int, int]:
        """(count, bytes) of the live checkpoints of a session's training runs."""
        row = self.one(f"SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM checkpoints WHERE "
                       f"{_LIVE} AND run_id IN (SELECT run_id FROM training_runs WHERE "
                       "session_id = ?)", (time.time(), session_id))
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # -- training runs --------------------------------------------------------------

    def add_run(self, run_id: str, owner: str, session_id: str, base_model: str,
                lora: dict[str, Any], user_metadata: dict[str, Any] | None,
                frozen: bool = False) -> bool:
        """False when the run already exists (a resent create)."""
        now = time.time()
        return self.execute("INSERT OR IGNORE INTO training_runs (run_id, owner, session_id, "
                            "base_model, lora, user_metadata, created_at, last_request_time, "
                            "frozen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (run_id, owner, session_id, base_model, json.dumps(lora),
                             _json(user_metadata), now, now, int(frozen))) == 1

    @staticmethod
    def _as_run(row: sqlite3.Row) -> Run:
        return Run(row["run_id"], row["owner"], row["session_id"], row["base_model"],
                   json.loads(row["lora"]), _unjson(row["user_metadata"]),
                   row["last_request_time"], row["last_seq_id"], row["created_at"],
                   bool(row["frozen"]))

    def run(self, run_id: str) -> Run | None:
        row = self._one("SELECT * FROM training_runs WHERE run_id = ?", (run_id,))
        return None if row is None else self._as_run(row)

    def touch_run(self, run_id: str, seq_id: int | None) -> None:
        """Remember the last executed seq_id so a restarted emulator continues the sequence."""
        self.execute("UPDATE training_runs SET last_request_time = ?, "
                  "last_seq_id = COALESCE(?, last_seq_id) WHERE run_id = ?",
                  (time.time(), seq_id, run_id))

    def _runs_where(self, owner: str, accessible: bool) -> tuple[str, list[Any]]:
        if not accessible:
            return "owner = ?", [owner]
        return (f"(owner = ? OR run_id IN (SELECT run_id FROM checkpoints "
                f"WHERE public = 1 AND {_LIVE}))", [owner, time.time()])

    def runs(self, owner: str, accessible: bool, offset: int, limit: int) -> tuple[list[Run], int]:
        where, args = self._runs_where(owner, accessible)
        total = self._one(f"SELECT COUNT(*) FROM training_runs WHERE {where}", args)
        rows = self._all(f"SELECT * FROM training_runs WHERE {where} "
                         "ORDER BY created_at DESC, run_id LIMIT ? OFFSET ?",
                         [*args, limit, offset])
        return [self._as_run(r) for r in rows], int(total[0]) if total else 0

    def run_visible(self, run_id: str, owner: str, accessible: bool) -> Run | None:
        where, args = self._runs_where(owner, accessible)
        row = self._one(f"SELECT * FROM training_runs WHERE run_id = ? AND {where}",
                        [run_id, *args])
        return None if row is None else self._as_run(row)

    # -- checkpoints ----------------------------------------------------------------

    def put_checkpoint(self, run_id: str, kind: str, name: str, owner: str, size_bytes: int,
                       storage_key: str, ttl_seconds: int | None,
                       user_metadata: dict[str, str] | None) -> str | None:
        """Insert or replace; returns the storage key of a replaced checkpoint (to delete)."""
        now = time.time()
        expires = None if ttl_seconds is None else now + ttl_seconds
        with self._lock:
            old = self._db.execute("SELECT storage_key FROM checkpoints WHERE run_id = ? AND "
                                   "kind = ? AND name = ?", (run_id, kind, name)).fetchone()
            self._db.execute("INSERT OR REPLACE INTO checkpoints (run_id, kind, name, owner, "
                             "created_at, size_bytes, user_metadata, expires_at, storage_key) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (run_id, kind, name, owner, now, size_bytes,
                              _json(user_metadata), expires, storage_key))
        return None if old is None else str(old[0])

    @staticmethod
    def _as_checkpoint(row: sqlite3.Row) -> Checkpoint:
        return Checkpoint(row["run_id"], row["kind"], row["name"], row["owner"],
                          row["created_at"], row["size_bytes"], bool(row["public"]),
                          _unjson(row["user_metadata"]), row["expires_at"], row["storage_key"])

    def checkpoint(self, run_id: str, kind: str, name: str) -> Checkpoint | None:
        """A live (unexpired) checkpoint, whoever owns it."""
        row = self._one(f"SELECT * FROM checkpoints WHERE run_id = ? AND kind = ? AND name = ? "
                        f"AND {_LIVE}", (run_id, kind, name, time.time()))
        return None if row is None else self._as_checkpoint(row)

    def checkpoints(self, run_id: str | None, owner: str | None, offset: int = 0,
                    limit: int = -1) -> tuple[list[Checkpoint], int]:
        """Live checkpoints of one run and/or one owner, newest first."""
        where: list[str] = [_LIVE]
        args: list[Any] = [time.time()]
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        cond = " AND ".join(where)
        total = self._one(f"SELECT COUNT(*) FROM checkpoints WHERE {cond}", args)
        rows = self._all(f"SELECT * FROM checkpoints WHERE {cond} ORDER BY created_at DESC, "
                         "kind, name LIMIT ? OFFSET ?", [*args, limit, offset])
        return [self._as_checkpoint(r) for r in rows], int(total[0]) if total else 0

    def latest_checkpoint(self, run_id: str, kind: str) -> Checkpoint | None:
        row = self._one(f"SELECT * FROM checkpoints WHERE run_id = ? AND kind = ? AND {_LIVE} "
                        "ORDER BY created_at DESC LIMIT 1", (run_id, kind, time.time()))
        return None if row is None else self._as_checkpoint(row)

    def delete_checkpoint(self, run_id: str, kind: str, name: str) -> None:
        self.execute("DELETE FROM checkpoints WHERE run_id = ? AND kind = ? AND name = ?",
                  (run_id, kind, name))

    def set_public(self, run_id: str, kind: str, name: str, public: bool) -> None:
        self.execute("UPDATE checkpoints SET public = ? WHERE run_id = ? AND kind = ? AND name = ?",
                  (int(public), run_id, kind, name))

    def set_expiry(self, run_id: str, kind: str, name: str, ttl_seconds: int | None) -> None:
        expires = None if ttl_seconds is None else time.time() + ttl_seconds
        self.execute("UPDATE checkpoints SET expires_at = ? WHERE run_id = ? AND kind = ? "
                  "AND name = ?", (expires, run_id, kind, name))

    def purge_expired(self) -> list[Checkpoint]:
        """Drop expired checkpoint rows; returns them so their files can go too."""
        now = time.time()
        with self._lock:
            rows = self._db.execute("SELECT * FROM checkpoints WHERE expires_at "
                                    "IS NOT NULL AND expires_at <= ?", (now,)).fetchall()
            self._db.execute("DELETE FROM checkpoints WHERE expires_at IS NOT NULL "
                             "AND expires_at <= ?", (now,))
        return [self._as_checkpoint(r) for r in rows]

    def storage_key_in_use(self, key: str) -> bool:
        return self._one("SELECT 1 FROM checkpoints WHERE storage_key = ? UNION "
                         "SELECT 1 FROM samplers WHERE weights_key = ?", (key, key)) is not None

    # -- samplers -------------------------------------------------------------------

    def add_sampler(self, sampler_id: str, owner: str, session_id: str, base_model: str,
                    model_path: str | None, weights_key: str | None,
                    source_run_id: str | None = None) -> bool:
        return self.execute("INSERT OR IGNORE INTO samplers (sampler_id, owner, session_id, "
                         "base_model, model_path, weights_key, created_at, source_run_id) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (sampler_id, owner, session_id, base_model, model_path, weights_key,
                          time.time(), source_run_id)) == 1

    @staticmethod
    def _as_sampler(row: sqlite3.Row) -> Sampler:
        return Sampler(row["sampler_id"], row["owner"], row["session_id"], row["base_model"],
                       row["model_path"], row["weights_key"], row["created_at"],
                       row["source_run_id"])

    def next_sampler_client(self, sampler_id: str) -> int:
        """A new client counter for ``sampler_id``: 1, 2, ... (kept across restarts)."""
        row = self._one("INSERT INTO sampler_clients VALUES (?, 1) ON CONFLICT (sampler_id) "
                        "DO UPDATE SET last_counter = last_counter + 1 RETURNING last_counter",
                        (sampler_id,))
        assert row is not None
        return int(row[0])

    def sampler(self, sampler_id: str) -> Sampler | None:
        row = self._one("SELECT * FROM samplers WHERE sampler_id = ?", (sampler_id,))
        return None if row is None else self._as_sampler(row)

    def samplers(self, *, session_id: str | None = None,
                 source_run_id: str | None = None) -> list[Sampler]:
        """The samplers of one session, or those sampling one run's weights, oldest first."""
        column, value = (("session_id", session_id) if session_id is not None
                         else ("source_run_id", source_run_id))
        rows = self._all(f"SELECT * FROM samplers WHERE {column} = ? ORDER BY created_at",
                         (value,))
        return [self._as_sampler(r) for r in rows]
