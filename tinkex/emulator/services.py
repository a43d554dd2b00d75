"""Everything a handler needs, built once per emulator: state, files, compute, faults.

Besides holding the parts, :class:`Services` owns the rules that several
handlers share: who may see a session, run or checkpoint (others' things are
404, public checkpoints excepted), that a finished session refuses further
work, how ``tinker://`` paths parse, and how futures are submitted (deduped by
``(model_id, seq_id)``, paused when a pause fault is on).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable
from typing import Any

from tinkex import types as T
from tinkex.paths import TinkerPath, TinkerPathError

from .archive import ArchiveSigner
from .catalog import Catalog
from .config import EmulatorConfig
from .errors import ApiError, not_found
from .execution import Executor
from .faults import Faults
from .futures import FutureRecord, FutureStore
from .runtime import Models
from .sample_seeds import SampleSeeds
from .state import Checkpoint, Run, Session, Store
from .weights import WeightFiles

_NAME = re.compile(r"[A-Za-z0-9._:+=@-]{1,200}")


def check_name(name: str | None) -> str:
    """Checkpoint names become URL segments and ids: no slashes, nothing exotic."""
    if name is None or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ApiError(400, f"invalid checkpoint name {name!r}: use 1-200 characters "
                            "from letters, digits and ._:+=@-")
    return name


def parse_tinker_path(path: str) -> tuple[str, str, str]:
    """``tinker://<run>/<kind>/<name>`` -> (run, kind, name); 400 for anything else."""
    try:
        parsed = TinkerPath.parse(path)
    except TinkerPathError as e:
        raise ApiError(400, str(e)) from None
    return parsed.training_run_id, parsed.kind, parsed.name


class Services:
    def __init__(self, config: EmulatorConfig, thread_prefix: str = "tinkex-emulator"):
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.catalog = Catalog(config.aliases)
        self.store = Store(config.data_dir / "emulator.sqlite3")
        self.files = WeightFiles(config.data_dir / "weights")
        self.futures = FutureStore(config.future_retention)
        self.executor = Executor(self.futures, config.workers, config.gap_timeout,
                                 thread_prefix)
        self.faults = Faults(config.faults)
        self.sample_seeds = SampleSeeds(config.sample_seed)
        self.models = Models(self.store, self.files, self.catalog)
        secret = self.store.setting("archive_secret", lambda: secrets.token_hex(32))
        self.archives = ArchiveSigner(bytes.fromhex(secret), config.archive_url_ttl)

    def close(self) -> None:
        """Release long polls, join the compute and timer threads, close the database."""
        self.futures.close()
        self.executor.shutdown()
        self.store.close()

    # -- access rules ---------------------------------------------------------------

    def session(self, owner: str, session_id: str, *, active: bool = True) -> Session:
        session = self.store.session(session_id)
        if session is None or session.owner != owner:
            raise not_found("session", session_id)
        if active and session.finished_reason is not None:
            raise ApiError(400, f"session {session_id!r} was finished "
                                f"({session.finished_reason}); start a new session")
        return session

    def run(self, owner: str, run_id: str, *, active: bool = True) -> Run:
        run = self.store.run(run_id)
        if run is None or run.owner != owner:
            raise not_found("model", run_id)
        if active:
            self.session(owner, run.session_id)
        return run

    def checkpoint(self, owner: str, run_id: str, kind: str, name: str, *,
                   public_ok: bool = False) -> Checkpoint:
        checkpoint = self.store.checkpoint(run_id, kind, name)
        if checkpoint is None or not (checkpoint.owner == owner
                                      or (public_ok and checkpoint.public)):
            raise not_found("checkpoint", f"tinker://{run_id}/{kind}/{name}")
        return checkpoint

    def checkpoint_at(self, owner: str, tinker_path: str) -> Checkpoint:
        """The checkpoint a tinker:// path names, if the caller owns it or it is public."""
        return self.checkpoint(owner, *parse_tinker_path(tinker_path), public_ok=True)

    def purge_expired(self) -> None:
        """Forget expired checkpoints and delete their files (unless a sampler still uses one)."""
        for key in self.store.purge_expired():
            if not self.store.storage_key_in_use(key):
                self.files.delete(key)

    # -- futures --------------------------------------------------------------------

    def submit(self, owner: str, request_type: str, work: Callable[[], Any],
               key: Hashable | None = None) -> FutureRecord:
        """Run ``work`` on the pool (no ordering); a repeated ``key`` returns the first future."""
        record, created = self.futures.create(owner, request_type, key)
        if created:
            self.faults.pause(record)
            self.executor.submit(record, work)
        return record

    def submit_training(self, owner: str, run: Run, seq_id: int | None, request_type: str,
                        work: Callable[[], Any], key: Hashable | None = None) -> FutureRecord:
        """Run ``work`` in the model's lane, in seq_id order, at most once per seq_id.

        Work without a seq_id (model creation, pre-0.3 SDKs) runs before the
        lane's ordered requests, which is how a model exists before its seq_id 1.
        """
        if seq_id is not None:
            key = ("model", run.run_id, seq_id)
        record, created = self.futures.create(owner, request_type, key)
        if created:
            self.faults.pause(record)

            def first_seq() -> int:
                return (run.last_seq_id or 0) + 1

            def tracked() -> Any:
                result = work()
                self.store.touch_run(run.run_id, seq_id)
                return result

            self.executor.submit_ordered(run.run_id, seq_id, record, tracked, first_seq)
        return record

    @staticmethod
    def future(record: FutureRecord, model_id: str | None = None,
               sample_ids: list[str] | None = None) -> T.UntypedAPIFuture:
        return T.UntypedAPIFuture(request_id=record.request_id, model_id=model_id,
                                  sample_sequence_ids=sample_ids)
