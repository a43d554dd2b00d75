"""The connection a process uses for the sampling clients it received from another process.

A ``SamplingClient`` travels to a process-pool or Ray worker (pickled), or into
a forked child (inherited), as a :class:`JoinTicket`: where the server is, the
credentials and headers, and the session to join. Every copy that arrives in
one process with the same ticket shares one :class:`ClientContext` there (one
set of connections, one poller, one telemetry queue), made when the first of
them needs the server: a worker that never samples starts no thread and opens
no connection.

In that process each sampling session is numbered in a block of its own: the
server issues it (``join_sampling_session``) when its client config says so,
otherwise it is drawn at random. Copies in many processes therefore never send
the same ``seq_id``, which the server would take for a resent request.

A shared context is closed when the last copy that used it is closed, and in
any case when the process exits: at interpreter exit (``atexit``; Ray workers
get there on SIGTERM) and at the end of a ``multiprocessing`` worker, which
skips ``atexit`` when it was forked.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from tinkex._context import ClientContext
from tinkex.core.errors import NotFoundError
from tinkex.core.transport import Timeout

SAMPLE_OPERATION = "asample"
"""The operation whose numbers a copy takes from its own block."""


@dataclass(frozen=True)
class JoinTicket:
    """What a copy of a client needs to join its creator's session from another process.

    Hashable: copies with equal tickets share a context. The key and the headers
    (which may hold Cloudflare secrets) travel with it but never show in its repr.
    """

    base_url: str
    session_id: str
    wire_format: str = "auto"
    api_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: Timeout | None = None
    max_retries: int | None = None

    @classmethod
    def of(cls, context: ClientContext) -> JoinTicket:
        """The ticket to ``context``'s session (created now if it does not exist yet)."""
        cfg = context.config
        return cls(base_url=cfg.base_url, session_id=context.session_id,
                   wire_format=context.wire_format,
                   api_key=str(cfg.api_key) if cfg.api_key is not None else None,
                   headers=tuple(sorted(cfg.headers.items())), timeout=cfg.timeout,
                   max_retries=cfg.max_retries)

    def open(self, environ: Mapping[str, str] | None = None) -> ClientContext:
        """A new context in this process that joins the session (no thread starts yet)."""
        return ClientContext(api_key=self.api_key, base_url=self.base_url,
                             default_headers=dict(self.headers), timeout=self.timeout,
                             max_retries=self.max_retries, session_id=self.session_id,
                             wire_format=self.wire_format, environ=environ)


class _Shared:
    """One process's context for one ticket, and the sampling sessions it has numbered."""

    def __init__(self, context: ClientContext) -> None:
        self.context = context
        self.users = 0
        self.clones: dict[str, int] = {}  # sampling session -> this process's block number
        self.lock = threading.Lock()

    def number(self, sampling_session_id: str) -> int:
        """Give ``sampling_session_id`` a block of this process's own (once); its number."""
        with self.lock:  # per context: the join request must not hold up other tickets
            clone = self.clones.get(sampling_session_id)
            if clone is None:
                clone = _clone_number(self.context, sampling_session_id)
                self.context.sequencer.number_as_clone(SAMPLE_OPERATION, sampling_session_id,
                                                       clone)
                self.clones[sampling_session_id] = clone
            return clone


def _clone_number(context: ClientContext, sampling_session_id: str) -> int:
    if _server_issues_blocks(context):
        response = context.api.sampling.join_sampling_session(
            sampling_session_id=sampling_session_id)
        return int(response.client_counter)
    spec = context.engine.table[SAMPLE_OPERATION].sequence
    assert spec is not None and spec.clone_block is not None
    # Random in [1, clone_block], so that clone * clone_block stays a 64-bit number.
    return secrets.randbelow(spec.clone_block) + 1


def _server_issues_blocks(context: ClientContext) -> bool:
    try:
        return bool(context.server_config.sample_join_sampling_session)
    except NotFoundError:  # a server without a client config issues no blocks
        return False


_lock = threading.Lock()
_shared: dict[JoinTicket, _Shared] = {}
_exit_hooked = False


def join(ticket: JoinTicket, sampling_session_id: str) -> ClientContext:
    """This process's context for ``ticket``, numbering ``sampling_session_id`` in its own block.

    Counts the caller as a user until it calls :func:`leave`.
    """
    with _lock:
        entry = _shared.get(ticket)
        if entry is None:
            entry = _shared[ticket] = _Shared(ticket.open())
            _close_at_worker_exit()
        entry.users += 1
    try:
        entry.number(sampling_session_id)
    except BaseException:
        leave(ticket, entry.context)
        raise
    return entry.context


def leave(ticket: JoinTicket, context: ClientContext) -> None:
    """One user fewer; the last one out closes the context (the session stays its creator's)."""
    with _lock:
        entry = _shared.get(ticket)
        if entry is None or entry.context is not context:
            return  # closed already (process exit), or a context from before a fork
        entry.users -= 1
        if entry.users > 0:
            return
        del _shared[ticket]
    context.close(None)


def shared_contexts() -> list[ClientContext]:
    """The contexts this process shares now (for tests and diagnostics)."""
    with _lock:
        return [entry.context for entry in _shared.values()]


def close_all() -> None:
    """Close every shared context of this process (at exit)."""
    with _lock:
        entries = list(_shared.values())
        _shared.clear()
    for entry in entries:
        entry.context.close(None)


def _close_at_worker_exit() -> None:
    # A forked multiprocessing worker ends with os._exit, which skips atexit; its own
    # exit hook (multiprocessing.util.Finalize) still runs. Only looked up when the
    # process is such a worker, so that tinkex never imports multiprocessing itself.
    global _exit_hooked
    multiprocessing = sys.modules.get("multiprocessing")
    if _exit_hooked or multiprocessing is None or multiprocessing.parent_process() is None:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, close_all, exitpriority=10)
    _exit_hooked = True


def _forget_parent_contexts() -> None:
    # In a forked child the parent's contexts number like the parent (and like every
    # sibling): the child joins afresh. Their threads do not exist here; the core's own
    # fork handling resets them.
    global _lock, _exit_hooked
    _lock = threading.Lock()
    _shared.clear()
    _exit_hooked = False


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_contexts)
