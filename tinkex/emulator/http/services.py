"""Everything a handler needs, built once per emulator: state, files, compute, faults.

Besides holding the parts, :class:`Services` owns the rules that several
handlers share: who may see a session, run or checkpoint (others' things are
404, public checkpoints excepted), that a finished session refuses further
work, how ``tinker://`` paths parse, and how futures are submitted (deduped by
``(model_id, seq_id)``, paused when a pause fault is on).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from tinkex import types as T
from tinkex.emulator.compute.catalog import Catalog
from tinkex.emulator.compute.execution import Executor
from tinkex.emulator.compute.live_models import Models
from tinkex.emulator.compute.model import PRESETS
from tinkex.emulator.compute.sample_seeds import SampleSeeds
from tinkex.emulator.compute.tokenizer_files import (
    hub_cache,
    install_in_hub_cache,
    write_tokenizer_dir,
)
from tinkex.emulator.config import EmulatorConfig
from tinkex.emulator.errors import HTTPProblem, not_found
from tinkex.emulator.state.completions import Completions
from tinkex.emulator.state.history import History
from tinkex.emulator.state.ledger import Ledger
from tinkex.emulator.state.requests import FutureRecord, FutureStore
from tinkex.emulator.state.store import Checkpoint, Run, Session, Store
from tinkex.emulator.state.weights import WeightFiles
from tinkex.paths import TinkerPath, TinkerPathError

from .archive import SignedLinks
from .auth import Authenticator, urn_of
from .console.access import ConsoleAccess
from .faults import Faults
from .signing import JwtSigner

_NAME = re.compile(r"[A-Za-z0-9._:+=@-]{1,200}")


def check_name(name: str | None) -> str:
    """Checkpoint names become URL segments and ids: no slashes, nothing exotic."""
    if name is None or not _NAME.fullmatch(name) or name in (".", ".."):
        raise HTTPProblem(400, f"invalid checkpoint name {name!r}: use 1-200 characters "
                               "from letters, digits and ._:+=@-")
    return name


def parse_tinker_path(path: str) -> tuple[str, str, str]:
    """``tinker://<run>/<kind>/<name>`` -> (run, kind, name); 400 for anything else."""
    try:
        parsed = TinkerPath.parse(path)
    except TinkerPathError as e:
        raise HTTPProblem(400, str(e)) from None
    return parsed.training_run_id, parsed.kind, parsed.name


class Services:
    def __init__(self, config: EmulatorConfig, thread_prefix: str = "tinkex-emulator"):
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.catalog = Catalog(config.aliases)
        self.store = Store(config.data_dir / "emulator.sqlite3")
        self.files = WeightFiles(config.data_dir / "weights")
        self.futures = FutureStore(config.future_retention)
        self.completions = Completions(self.futures)
        self.executor = Executor(self.futures, config.workers, config.gap_timeout,
                                 thread_prefix)
        self.faults = Faults(config.faults)
        self.sample_seeds = SampleSeeds(config.sample_seed)
        self.models = Models(self.store, self.files, self.catalog)
        self.history = History(config.data_dir / "history.sqlite3")
        self.ledger = Ledger(self.store)
        self.tokenizer_dir = write_tokenizer_dir(config.data_dir / "tokenizer")
        if config.hf_cache != "off":
            cache = hub_cache(os.environ) if config.hf_cache == "auto" else Path(config.hf_cache)
            install_in_hub_cache(cache, sorted(PRESETS))
        # One signing key (kept under its first name); each use derives its own from it.
        secret = bytes.fromhex(self.store.setting("archive_secret",
                                                  lambda: secrets.token_hex(32)))
        self.links = SignedLinks(secret, config.archive_url_ttl)
        self.console = ConsoleAccess(secret, config.console_link_ttl)
        self.auth = Authenticator(JwtSigner(secret), self.ledger.is_revoked,
                                  config.faults.refuse_jwt_every)
        self._note_lost_requests()
        self.futures.listeners.append(
            lambda r: self.ledger.failed_unrun(r.request_id) if r.state == "failed" else None)

    def _note_lost_requests(self) -> None:
        """Requests accepted before a crash or stop that never ran: their polls say so
        (410), and later requests of their models fail at once instead of waiting."""
        for request_id, target, seq_id in self.ledger.lost_in_restart():
            where = f" (model {target!r}, seq_id {seq_id})" if seq_id is not None else ""
            self.futures.lost[request_id] = (
                f"future {request_id!r} was lost: the server restarted before the request "
                f"ran{where}; submit it again")
            if seq_id is not None and target is not None:
                self.executor.lost.setdefault(target, set()).add(seq_id)

    def close(self) -> None:
        """Release long polls, join the compute and timer threads, close the database."""
        self.futures.close()
        self.completions.release()
        self.executor.shutdown()
        self.history.close()
        self.store.close()

    # -- access rules ---------------------------------------------------------------

    def session(self, owner: str, session_id: str, *, active: bool = True) -> Session:
        session = self.store.session(session_id)
        if session is None or session.owner != owner:
            raise not_found("session", session_id)
        if active and session.finished_reason is not None:
            raise HTTPProblem(400, f"session {session_id!r} was finished "
                                   f"({session.finished_reason}); start a new session")
        return session

    def run(self, owner: str, run_id: str, *, active: bool = True) -> Run:
        run = self.store.run(run_id)
        if run is None or run.owner != owner:
            raise not_found("model", run_id)
        if active:
            if run.frozen:
                raise HTTPProblem(400, f"training run {run_id!r} holds copied weights and cannot "
                                       "be trained on; create a training client from its checkpoint")
            self.session(owner, run.session_id)
        return run

    def project_for(self, owner: str, project_id: str) -> str:
        """Use (or claim) a project id; 403 when it belongs to another account."""
        if not project_id:
            raise HTTPProblem(400, "project_id must not be empty")
        holder = self.ledger.project_owner(project_id, claim_for=owner)
        if holder != owner:
            raise HTTPProblem(403, f"project {project_id!r} belongs to another account")
        return project_id

    def checkpoint(self, owner: str, run_id: str, kind: str, name: str, *,
                   public_ok: bool = False) -> Checkpoint:
        checkpoint = self.store.checkpoint(run_id, kind, name)
        if checkpoint is None or not (checkpoint.owner == owner
                                      or (public_ok and checkpoint.public)):
            raise not_found("checkpoint", f"tinker://{run_id}/{kind}/{name}")
        return checkpoint

    def checkpoint_at(self, owner: str, tinker_path: str,
                      access_token: str | None = None) -> Checkpoint:
        """The checkpoint a tinker:// path names, if the caller owns it or it is public.

        ``access_token`` (a weights access token: a JWT this server minted for the
        checkpoint's owner) makes another account's private checkpoint readable.
        """
        run_id, kind, name = parse_tinker_path(tinker_path)
        if access_token:
            grantor = self.auth.identify_jwt(access_token)
            found = self.store.checkpoint(run_id, kind, name)
            if found is not None and found.owner == grantor.owner:
                return found
        return self.checkpoint(owner, run_id, kind, name, public_ok=True)

    def audit_checkpoint(self, actor: str, event: str, c: Checkpoint, purpose: str | None = None,
                         **details: Any) -> None:
        """An audit entry about a checkpoint, for the actor's organization and the owner's."""
        path = f"tinker://{c.run_id}/{c.kind}/{c.name}"
        entry = {"actor": urn_of(actor), "tinker_path": path, "model_id": c.run_id, **details}
        if purpose is not None:
            entry["purpose"] = purpose
        for org in sorted({actor, c.owner}):
            self.ledger.audit(org, event, entry, model_id=c.run_id, tinker_path=path,
                              purpose=purpose)

    def forget_checkpoint(self, c: Checkpoint) -> None:
        """Delete a checkpoint row, end its storage interval, and its file unless shared."""
        self.store.delete_checkpoint(c.run_id, c.kind, c.name)
        self.ledger.released(c.run_id, c.kind, c.name)
        if not self.store.storage_key_in_use(c.storage_key):
            self.files.delete(c.storage_key)

    def purge_expired(self) -> None:
        """Forget expired checkpoints and delete their files (unless a sampler still uses one)."""
        for c in self.store.purge_expired():
            self.ledger.released(c.run_id, c.kind, c.name, at=c.expires_at)
            if not self.store.storage_key_in_use(c.storage_key):
                self.files.delete(c.storage_key)

    # -- futures --------------------------------------------------------------------

    def _timed(self, record: FutureRecord, work: Callable[[], Any]) -> Callable[[], Any]:
        """``work``, recording when it ran (for session traces)."""
        def run() -> Any:
            started, state = time.time(), "failed"
            try:
                result = work()
                state = "done"
                return result
            finally:
                self.ledger.ran(record.request_id, started, time.time(), state)
        return run

    def submit(self, owner: str, request_type: str, work: Callable[[], Any],
               key: Hashable | None = None, session_id: str | None = None,
               target: str | None = None) -> FutureRecord:
        """Run ``work`` on the pool (no ordering); a repeated ``key`` returns the first future."""
        record, created = self.futures.create(owner, request_type, key)
        if created:
            self.ledger.submitted(record.request_id, owner, session_id, request_type, target)
            self.faults.pause(record)
            self.executor.submit(record, self._timed(record, work))
        return record

    def resent(self, owner: str, model_id: Any, seq_id: Any) -> T.UntypedAPIFuture | None:
        """The first future of a request resent under the same ``(model_id, seq_id)``.

        Checked before a handler runs: a resend whose first answer was lost must
        get that answer, not a conflict with the first request's own effects
        (the sampler or checkpoint it created).
        """
        if not isinstance(model_id, str) or not isinstance(seq_id, int):
            return None
        record = self.futures.by_key(("model", model_id, seq_id))
        if record is None or record.owner != owner:
            return None
        return self.future(record, model_id=model_id)

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
            self.ledger.submitted(record.request_id, owner, run.session_id, request_type,
                                  run.run_id, seq_id)
            self.faults.pause(record)
            work = self._timed(record, work)

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
