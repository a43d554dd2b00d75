"""The server session: created on first use, kept alive by a heartbeat thread, finished on close.

Everything comes from ``x-tinkex-session``: the create operation and the field
of its answer that holds the id, the heartbeat operation, interval, timeout,
warning delay and stop statuses, and the finish operation with its allowed
statuses. What goes in the request bodies is the domain's business (it passes
a dict or a callable); the core only routes the session id into a path
parameter, or into the heartbeat body by default.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tinkex.core.errors import APIConnectionError, ClientClosedError, SDKError
from tinkex.core.lifecycle import CLOSE_TIMEOUT, join_threads, start_daemon
from tinkex.core.model.document import SessionSpec
from tinkex.core.options import RequestOptions

if TYPE_CHECKING:
    from tinkex.core.engine import Engine

log = logging.getLogger(__name__)

Body = Mapping[str, Any]


class SessionManager:
    """Creates the session once (thread-safe), heartbeats it, and finishes it on :meth:`close`.

    ``create_body`` is a body or a function returning one (called at creation);
    ``heartbeat_body(session_id)`` and ``finish_body(session_id, status)`` build
    the other two bodies. Without ``heartbeat_body`` the heartbeat sends
    ``{id_field: session_id}`` unless the id travels in the path. Register it
    with the client's :class:`~tinkex.core.lifecycle.ThreadOwner` (exit and fork).
    """

    JOINED_AT_EXIT = False  # a heartbeat has nothing to finish

    def __init__(self, engine: Engine, spec: SessionSpec | None = None, *,
                 create_body: Body | Callable[[], Body] | None = None,
                 heartbeat_body: Callable[[str | None], Body] | None = None,
                 finish_body: Callable[[str | None, str], Body] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        spec = spec or engine.table.session
        if spec is None:
            raise ValueError("the document declares no session (x-tinkex-session)")
        self.engine = engine
        self.spec = spec
        self._create_body = create_body
        self._heartbeat_body = heartbeat_body
        self._finish_body = finish_body
        self._clock = clock
        self._session_id: str | None = None
        self._created = False
        self._closed = False  # no new session, no heartbeat
        self._finished = False  # the finish operation has been sent
        self._fresh_state()

    def _fresh_state(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def session_id(self) -> str | None:
        """The session's id, creating the session on first use."""
        return self.ensure()

    @property
    def created(self) -> bool:
        """Whether the session has been created (without creating it)."""
        return self._created

    def adopt(self, session_id: str) -> None:
        """Join a session created elsewhere (e.g. by the process that pickled a client).

        The session is not created again; :meth:`ensure` starts heartbeating it.
        """
        with self._lock:
            if self._created or self._closed:
                raise RuntimeError("adopt() must come before the session is created or closed")
            self._session_id = session_id
            self._created = True

    def ensure(self) -> str | None:
        """Create the session if needed and make sure its heartbeat runs; return its id.

        After :meth:`close` the id stays readable (e.g. for a last telemetry
        batch), but a session that was never created is not created any more.
        """
        if self._created and (self._closed or self._thread or not self.spec.heartbeat):
            return self._session_id
        with self._lock:
            if self._closed:
                if self._created:
                    return self._session_id
                raise ClientClosedError("the session is closed")
            if not self._created:
                self._session_id = self._create()
                self._created = True
            if self.spec.heartbeat is not None and self._thread is None:
                self._thread = start_daemon("heartbeat", self._heartbeat_loop)
            return self._session_id

    def _create(self) -> str | None:
        body = self._create_body() if callable(self._create_body) else self._create_body
        response = self.engine.send(self.spec.create, body=body)
        if self.spec.id_field is None:
            return None
        return str(self.engine.answer_field(self.spec.create, response, self.spec.id_field))

    def _path_params(self, operation_id: str) -> dict[str, Any] | None:
        """The session id as a path parameter, if ``operation_id`` takes it in its path."""
        id_field = self.spec.id_field
        path = self.engine.table[operation_id].params_in("path")
        if id_field is not None and any(p.wire_name == id_field for p in path):
            return {id_field: self._session_id}
        return None

    # ---- heartbeat ----------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        hb = self.spec.heartbeat
        assert hb is not None
        last_success = self._clock()
        warned = False
        # Event.wait, not sleep: close() wakes the loop at once.
        while not self._stop.wait(hb.interval):
            try:
                status: int | None = self._beat()
            except ClientClosedError:
                return
            except APIConnectionError as exc:
                log.debug("session heartbeat failed: %s", exc)
                status = None
            except SDKError:
                log.debug("session heartbeat failed", exc_info=True)
                status = None
            if status is not None and status in hb.stop_statuses:
                log.info("the server ended session %s (HTTP %d); heartbeat stopped",
                         self._session_id, status)
                return
            if status is not None and 200 <= status < 300:
                last_success, warned = self._clock(), False
                continue
            silent = self._clock() - last_success
            if hb.warn_after is not None and silent >= hb.warn_after and not warned:
                warned = True  # once per outage, not once per beat
                log.warning("session %s: no successful heartbeat for %.0f s; the server may end "
                            "the session", self._session_id, silent)

    def _beat(self) -> int:
        hb = self.spec.heartbeat
        assert hb is not None
        path = self._path_params(hb.operation)
        body: Any = None
        if self._heartbeat_body is not None:
            body = self._heartbeat_body(self._session_id)
        elif path is None and self.spec.id_field and self.engine.table[hb.operation].body_type:
            body = {self.spec.id_field: self._session_id}
        return self.engine.send_once(hb.operation, path_params=path, body=body,
                                     options=RequestOptions(timeout=hb.timeout)).status

    # ---- ending -------------------------------------------------------------------------

    def close(self, status: str | None = None, timeout: float = CLOSE_TIMEOUT) -> None:
        """Finish the session with ``status`` (one of the spec's finish statuses), then stop.

        Without ``status``, or when the document has no finish operation, the
        session just stops heartbeating. A failed finish is logged, not raised:
        closing must always complete.
        """
        finish = self.spec.finish
        if status is not None and finish is not None and status not in finish.statuses:
            raise ValueError(f"status must be one of {', '.join(finish.statuses)}, not {status!r}")
        self.request_stop()  # first, so that no heartbeat follows the finish
        with self._lock:
            finishing = (status is not None and finish is not None and self._created
                         and not self._finished)
            self._finished = self._finished or finishing
        if finishing:
            assert finish is not None and status is not None
            body = self._finish_body(self._session_id, status) if self._finish_body else None
            try:
                self.engine.send(finish.operation, path_params=self._path_params(finish.operation),
                                 body=body)
            except SDKError as exc:
                log.warning("could not finish session %s: %s", self._session_id, exc)
        self.join(time.monotonic() + timeout)

    def request_stop(self) -> None:
        """Stop the heartbeat without finishing the session (e.g. at interpreter exit)."""
        with self._lock:
            self._closed = True
        self._stop.set()

    def join(self, deadline: float) -> None:
        """Wait for the heartbeat thread until ``deadline``."""
        join_threads([self._thread], deadline)

    def reset_after_fork(self) -> None:
        """In a forked child: no heartbeat thread; the next use of the session starts one."""
        self._fresh_state()
