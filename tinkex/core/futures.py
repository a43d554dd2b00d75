"""Futures: ``APIFuture`` and the bounded pool of threads that long-polls for their results.

A "future" operation answers its submit with a handle; the result is fetched by
polling the document's retrieve operation (``x-tinkex-futures``). Polling starts
at submit, so results arrive even if nobody calls ``result()``. Every signal —
not-ready statuses and body markers, queue-state fields, failure fields, the
metadata-only flow, expiry — comes from that spec; this module knows no API.

``APIFuture`` itself lives in :mod:`tinkex.core.apifuture` (re-exported here).
Polls run on a small, bounded :class:`TaskPool` instead of a thread per future:
a task that must wait (backoff, byte budget) gives its thread back instead of
sleeping on it.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

# re-exported: tinkex.core.futures stays the import path of the future types
from tinkex.core.apifuture import APIFuture as APIFuture
from tinkex.core.apifuture import CombinedFuture as CombinedFuture
from tinkex.core.apifuture import QueueStateObserver, notify_observers
from tinkex.core.codecs import BodyCodecs, is_json, media_type
from tinkex.core.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    FutureExpiredError,
    RequestFailedError,
    RequestInfo,
)
from tinkex.core.lifecycle import CLOSE_TIMEOUT, TaskPool, Ticket
from tinkex.core.limits import ByteBudget
from tinkex.core.model.document import FutureSpec
from tinkex.core.model.operations import Operation
from tinkex.core.options import RequestOptions
from tinkex.core.transport import Response

if TYPE_CHECKING:
    from tinkex.core.engine import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
Decoder = Callable[[bytes, str], Any]

CALLER_POLL_TIMEOUT = 0.25
"""Seconds a caller blocked in ``result()`` waits on a poll it runs itself.

A server that holds the poll longer is left to the poller threads (the held
request is dropped), and the caller waits on the future, where ``cancel()`` or
``close()`` from another thread wakes it at once.
"""


CALLER_POLL_PAUSE = 30.0
"""Seconds callers leave polls to the poller threads after a caller's poll outlasted
CALLER_POLL_TIMEOUT: results that are slow tend to stay slow (training steps), and
every such poll costs a dropped connection."""


class _HandBack(Exception):
    """A caller's own poll outlasted CALLER_POLL_TIMEOUT: the pool polls from here."""


class _Poll:
    """The polling state of one future; run by the pool, one poll per run."""

    def __init__(self, future: APIFuture[Any], result_type: str,
                 headers: dict[str, str], accept: str) -> None:
        self.future = future
        self.result_type = result_type
        self.headers = headers
        self.accept = accept
        self.iteration = 0
        self.metadata_allowed = True
        self.reserved = 0  # bytes held in the poller's budget until the future resolves
        self.wanted = 0  # bytes announced by a metadata-only answer, not yet reserved
        self.bad_requests = 0
        self.failures = 0  # consecutive backoff statuses / connection failures
        self.not_ready = 0  # consecutive "not ready" answers, for the poll floor
        self.started = 0.0  # when the poll in flight was sent (monotonic)
        self.ticket: Ticket | None = None  # its place in the poller's pool


class FuturePoller:
    """Resolves future operations by long-polling the document's retrieve operation.

    One per engine (:func:`poller_for`), registered with the client's
    :class:`~tinkex.core.lifecycle.ThreadOwner`. ``decoders`` maps a non-JSON
    result media type to ``decode(content, result_type_name)``; such results are
    returned as the decoder makes them.
    """

    JOINED_AT_EXIT = False  # a poll in flight is for a result nobody will read

    def __init__(self, engine: Engine, spec: FutureSpec, *,
                 decoders: Mapping[str, Decoder] | None = None,
                 random: Callable[[], float] = random.random) -> None:
        self.engine = engine
        self.spec = spec
        self.decoders: BodyCodecs[Decoder] = BodyCodecs.for_document(engine.table.document,
                                                                     decoders)
        self.pool = TaskPool("poller", spec.poller_threads)
        meta = spec.metadata_only
        self.budget = ByteBudget(meta.budget_bytes) if meta is not None else None
        self._random = random
        self._observers: list[QueueStateObserver] = []
        self._lock = threading.Lock()
        self._live: dict[APIFuture[Any], _Poll] = {}
        self._parked: list[_Poll] = []  # waiting for byte budget
        self._stopped = False
        self._callers_wait_until = 0.0  # monotonic; see CALLER_POLL_PAUSE

    # ---- public -------------------------------------------------------------------------

    def resolve(self, operation: Operation, submitted: Any, submit_started_at: float) -> APIFuture[Any]:
        """The engine's ``future_resolver``: start polling for the result of a submit.

        ``submitted`` is the parsed submit answer, holding ``request_id_field``.
        (``submit_started_at`` is part of the engine's resolver protocol; no spec
        key asks for it yet.)
        """
        assert operation.future is not None
        request_id = _field(submitted, self.spec.request_id_field)
        future: APIFuture[Any] = APIFuture(str(request_id))
        future.submit_response = submitted
        headers = {}
        if self.spec.type_header and operation.future.request_type:
            headers[self.spec.type_header] = operation.future.request_type
        poll = _Poll(future, operation.future.result_type, headers,
                     self._accept(operation.future.result_media))
        future._on_cancel = lambda: self._forget(poll)
        future._on_wait = self.pool.kick
        future._on_block = functools.partial(self._help, poll)
        with self._lock:
            if self._stopped:
                raise RuntimeError("the future poller is closed")
            self._live[future] = poll
        poll.ticket = self.pool.schedule(functools.partial(self._run, poll))
        return future

    def _help(self, poll: _Poll) -> None:
        """A caller about to block on ``poll``'s future runs its due polls in its own thread.

        The answer then reaches the caller without passing through a poller
        thread (two thread hand-offs fewer per result); a poll already running
        on a poller thread, or waiting out a backoff, is left to the pool. After
        one such poll outlasted CALLER_POLL_TIMEOUT, callers leave every poll to
        the pool for CALLER_POLL_PAUSE seconds.
        """
        ticket = poll.ticket
        if time.monotonic() < self._callers_wait_until:
            return
        while ticket is not None and not poll.future.done() and self.pool.take(ticket):
            try:
                again = self._run(poll, CALLER_POLL_TIMEOUT)
            except _HandBack:
                self._callers_wait_until = time.monotonic() + CALLER_POLL_PAUSE
                self.pool.requeue(ticket)
                return
            if again is None:
                return
            self.pool.requeue(ticket, again)

    def _accept(self, media: Sequence[str]) -> str:
        """The Accept header: the declared result media this poller can decode, in order."""
        return ", ".join(m for m in media if is_json(media_type(m)) or m in self.decoders)

    def add_queue_state_observer(self, observer: QueueStateObserver) -> None:
        """Call ``observer(state, reason)`` when any future of this poller changes queue state."""
        self._observers.append(observer)

    def run_in_background(self, fn: Callable[..., T], *args: Any) -> APIFuture[T]:
        """Run ``fn(*args)`` on the poller's threads (e.g. a non-blocking twin of a slow call)."""
        future: APIFuture[T] = APIFuture()
        future._on_wait = self.pool.kick

        def task() -> None:
            if not future.done():  # not cancelled before it started
                try:
                    future._settle(fn(*args))
                except BaseException as exc:
                    future._settle(exc=exc)

        self.pool.schedule(task)
        return future

    # ---- one poll -----------------------------------------------------------------------

    def _run(self, poll: _Poll, timeout: float | None = None) -> float | None:
        """One poll (``timeout``: a caller's own, which raises _HandBack when it runs out)."""
        if poll.future.done():
            return None
        try:
            if poll.wanted and not self._reserve(poll):
                return None  # parked until budget is released
            return self._poll_once(poll, timeout)
        except _HandBack:
            raise
        except BaseException as exc:
            self._finish(poll, exc=exc)
            return None

    def _poll_once(self, poll: _Poll, timeout: float | None = None) -> float | None:
        spec = self.spec
        body: dict[str, Any] = {spec.request_id_field: poll.future.request_id}
        if spec.metadata_only is not None:
            body[spec.metadata_only.request_field] = poll.metadata_allowed
        headers = dict(poll.headers)
        if spec.iteration_header:
            headers[spec.iteration_header] = str(poll.iteration)
        poll.iteration += 1
        poll.started = time.monotonic()
        try:
            response = self.engine.send_once(
                spec.retrieve, body=body, headers=headers, accept=poll.accept,
                options=RequestOptions(timeout=spec.poll_timeout if timeout is None else timeout))
        except APITimeoutError:
            if timeout is not None:
                raise _HandBack from None
            return self._backoff(poll)
        except APIConnectionError:
            return self._backoff(poll)
        status = response.status
        if status in spec.not_ready.statuses:
            poll.failures = poll.bad_requests = 0
            self._note_queue_state(poll, _json_or_none(response))
            return self._not_ready(poll)
        if status in spec.expired_statuses:
            raise self._status_error(response, FutureExpiredError, "expired")
        if spec.bad_request is not None and status in spec.bad_request.statuses:
            poll.bad_requests += 1
            if poll.bad_requests <= spec.bad_request.max_retries:
                return self._backoff(poll)
        elif status in spec.backoff_statuses:
            return self._backoff(poll)
        if not response.ok:
            rule = self.engine.table.errors.rule_for(status)
            raise self._status_error(response, rule.exception if rule else APIStatusError, "failed")
        poll.failures = poll.bad_requests = 0
        return self._on_ok(poll, response)

    def _on_ok(self, poll: _Poll, response: Response) -> float | None:
        media = media_type(response.headers.get("content-type"))
        if media and not is_json(media):
            decoder = self.decoders.get(media)
            if decoder is None:
                raise self._invalid(response, f"no decoder for {media}")
            try:
                value = decoder(response.content, poll.result_type)
            except Exception as exc:
                raise self._invalid(response, f"cannot decode {media}: {exc}") from exc
            self._finish(poll, value)
            return None
        try:
            body = response.json()
        except ValueError as exc:
            raise self._invalid(response, f"not JSON: {exc}") from exc
        spec = self.spec
        if isinstance(body, dict):
            nr, failure, meta = spec.not_ready, spec.failure, spec.metadata_only
            if nr.field is not None and body.get(nr.field) == nr.value:
                self._note_queue_state(poll, body)
                return self._not_ready(poll)
            if failure.field in body:
                raise self._failure(poll, body)
            if meta is not None and body.get(meta.field) == meta.value:
                if not poll.metadata_allowed:
                    raise self._invalid(response, "a second metadata-only answer")
                poll.metadata_allowed = False
                poll.wanted = int(body.get(meta.size_field) or 0)
                return 0.0 if self._reserve(poll) else None
        model = self.engine.model(poll.result_type)
        try:
            value = model.model_validate(body) if model is not None else body
        except pydantic.ValidationError as exc:
            raise self._invalid(response, f"not a valid {poll.result_type}: {exc}") from exc
        self._finish(poll, value)
        return None

    def _not_ready(self, poll: _Poll) -> float:
        """The wait before the next poll: none after a held poll, the floor's rest otherwise."""
        floor = self.spec.not_ready.backoff
        poll.failures = 0
        if floor is None:
            return 0.0
        least = floor.delay(poll.not_ready, self._random())
        poll.not_ready += 1
        return max(0.0, least - (time.monotonic() - poll.started))

    def _backoff(self, poll: _Poll) -> float:
        # backoff_statuses and lost connections mean the server is struggling: never poll it
        # in a hot loop.
        delay = self.spec.backoff.delay(poll.failures, self._random())
        poll.failures += 1
        return delay

    # ---- what an answer means -----------------------------------------------------------

    def _note_queue_state(self, poll: _Poll, body: Any) -> None:
        qs = self.spec.queue_state
        if qs is None or not isinstance(body, dict) or body.get(qs.field) is None:
            return
        state = str(body[qs.field])
        if qs.values and state not in qs.values:
            state = "unknown"
        reason = body.get(qs.reason_field) if qs.reason_field else None
        if poll.future._note_queue_state(state, reason):
            notify_observers(self._observers, state, reason)

    def _failure(self, poll: _Poll, body: Mapping[str, Any]) -> RequestFailedError:
        failure = self.spec.failure
        detail = body[failure.field]
        message = detail if isinstance(detail, str) else json.dumps(detail)
        category = body.get(failure.category_field) if failure.category_field else None
        if category not in failure.categories:
            category = failure.default_category
        kind = failure.category_type
        return RequestFailedError(self.engine.config.redactor.text(message),
                                  str(poll.future.request_id),
                                  kind.parse(category) if kind is not None else category)

    def _status_error(self, response: Response, cls: type[APIStatusError],
                      what: str) -> APIStatusError:
        response = response.redacted(self.engine.config.redactor)
        body = _json_or_none(response)
        message = f"{self.spec.retrieve}: HTTP {response.status}: the future {what}"
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, str) and detail:
            message = f"{message}: {detail}"
        return cls(self.engine.config.redactor.text(message), response=response,
                   body=body if body is not None else response.text,
                   request=RequestInfo(response.method, response.url))

    def _invalid(self, response: Response, why: str) -> APIResponseValidationError:
        message = self.engine.config.redactor.text(f"{self.spec.retrieve}: {why}")
        return APIResponseValidationError(message,
                                          response=response.redacted(self.engine.config.redactor),
                                          request=RequestInfo(response.method, response.url))

    # ---- byte budget and completion -----------------------------------------------------

    def _reserve(self, poll: _Poll) -> bool:
        """Reserve the announced result size, or park the poll until budget is released.

        Never blocks: a pool thread waiting for budget could be the one whose
        poll would release it.
        """
        assert self.budget is not None
        with self._lock:
            if poll.future.done():
                return False
            if not self.budget.try_acquire(poll.wanted):
                self._parked.append(poll)
                return False
            poll.reserved, poll.wanted = poll.wanted, 0
            return True

    def _forget(self, poll: _Poll) -> None:
        """Stop tracking ``poll``; free its budget and wake the polls parked for budget."""
        with self._lock:
            self._live.pop(poll.future, None)
            if poll in self._parked:
                self._parked.remove(poll)
            if not poll.reserved:
                return
            assert self.budget is not None
            self.budget.release(poll.reserved)
            poll.reserved = 0
            woken, self._parked = self._parked, []
        for parked in woken:
            if parked.ticket is not None:
                self.pool.requeue(parked.ticket)

    def _finish(self, poll: _Poll, value: Any = None, exc: BaseException | None = None) -> None:
        self._forget(poll)
        poll.future._settle(value, exc)

    # ---- lifecycle ----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop polling; futures still pending are cancelled."""
        with self._lock:
            self._stopped = True
            pending = list(self._live)
        self.pool.request_stop()
        for future in pending:
            future.cancel()

    def join(self, deadline: float) -> None:
        """Wait for the poller threads until ``deadline``."""
        self.pool.join(deadline)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop polling (pending futures are cancelled) and join the threads within ``timeout``."""
        self.request_stop()
        self.join(time.monotonic() + timeout)

    def reset_after_fork(self) -> None:
        """In a forked child: fresh locks, and every pending future polled again from here.

        Threads start when the child next submits or waits on a future.
        """
        self._lock = threading.Lock()
        self._parked = []
        if self.budget is not None:
            self.budget.reset_after_fork()
        for future in self._live:
            # A parent thread may have held the future's lock at the fork.
            future._condition = threading.Condition()
        self.pool.reset_after_fork([p.ticket for p in self._live.values() if p.ticket is not None])


def _field(value: Any, name: str) -> Any:
    """A field of a parsed response: a pydantic model or a plain mapping."""
    if isinstance(value, Mapping):
        return value[name]
    return getattr(value, name)


def _json_or_none(response: Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def poller_for(engine: Engine, *, decoders: Mapping[str, Decoder] | None = None) -> FuturePoller:
    """The engine's ``future_resolver`` hook (:class:`~tinkex.core.engine.EngineHooks`):
    ``engine.call`` then returns :class:`APIFuture` objects."""
    spec = engine.table.futures
    if spec is None:
        raise ValueError("the document declares no futures (x-tinkex-futures)")
    return FuturePoller(engine, spec, decoders=decoders)
