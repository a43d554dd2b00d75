"""The engine: the one object other components use to talk to the API.

It owns the configuration, the operation table and the transport, and offers
three levels: :meth:`Engine.send` (one logical request with the operation's
retry policy), :meth:`Engine.send_once` (exactly one attempt, any status; for
loops that do their own retrying) and :meth:`Engine.call` (the low-level API:
keyword arguments in, result model out).

Per-operation work (URL, static headers, timeout, policy, parameter routing,
models) is planned once in the constructor, so a call does little besides
building its body and sending it. Components that extend calls are given to
the constructor as :class:`EngineHooks` (each made from the engine it serves:
``future_resolver``, ``sequencer``, ``dispatcher``, ``token_auth``; see the
protocols below) and read-only afterwards. A call whose body must travel in
another encoding (e.g. a binary format the document lists in the operation's
request media) passes an ``encode_body`` (:data:`BodyEncoder`). Every request
is recorded in ``metrics`` (:class:`~tinkex.core.metrics.Metrics`; set it to None
to turn metrics off).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from random import random as default_random
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import pydantic
import pydantic_core

from .config import ClientConfig
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    CircuitOpenError,
    ConfigError,
    InvalidArgumentError,
    RequestInfo,
    StreamError,
    checking_arguments,
)
from .metrics import Metrics
from .model.document import Source
from .model.operations import (
    JSON,
    RAW_CONTENT,
    BodyEncoding,
    Operation,
    OperationTable,
    Param,
    allows_null,
    load_table,
)
from .options import DEFAULT_OPTIONS, NOT_GIVEN, Omit, RequestOptions
from .paramstyle import cookie_header, cookie_pairs, header_value, path_value, query_pairs
from .ratelimit import PROCESS_RATE_LIMITERS, RateLimiterRegistry
from .raw import RawResponse
from .resilience import ResilienceStack
from .retry import SINGLE_ATTEMPT, RetryLoop, RetryPolicy, RetryReport
from .security import Credentials, resolve
from .streaming import ServerSentEvent, Stream, StreamedRawResponse, decode_events
from .tracing import Tracer, tracer_for
from .transport import (
    HTTPTransport,
    QueryParams,
    Response,
    StreamedResponse,
    Timeout,
    Transport,
)
from .uploads import Upload, multipart_body, raw_body

__all__ = ["BodyEncoder", "Dispatcher", "EncodedBody", "Engine", "EngineHooks", "FutureResolver",
           "Response",
           "Sequencer", "TokenAuth"]

_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
DETAIL_LIMIT = 500
"""Characters of the server's error detail kept in an exception message."""


class FutureResolver(Protocol):
    """Turns the parsed submit response of a future operation into what ``call`` returns."""

    def resolve(self, operation: Operation, submitted: Any, submit_started_at: float) -> Any: ...


class Sequencer(Protocol):
    """Numbers the body field of ``operation.sequence`` and keeps submissions in order.

    ``allocate`` returns a context manager that, on entry, sets
    ``body[operation.sequence.field]`` (body is the dict about to be sent, or
    encoded by the call's ``encode_body``) and holds this submission's turn
    until the send inside returns.
    """

    def allocate(self, operation: Operation, body: dict[str, Any]) -> ContextManager[Any]: ...


class EncodedBody(NamedTuple):
    """A request body in a non-JSON encoding, with the headers that describe it."""

    content: bytes
    content_type: str
    headers: Mapping[str, str] = {}
    """E.g. ``Content-Encoding`` when the content is compressed."""


BodyEncoder = Callable[[dict[str, Any]], EncodedBody]
"""Encodes a call's body instead of JSON (``RequestOptions(encode_body=...)``).

It gets the validated body as a shallow mapping: top-level fields by wire name,
values as validated Python objects (models are *not* dumped to JSON, which for a
large body would cost more than the encoding itself), None-valued fields left
out, the sequence field already numbered. It runs once per call (retries resend
its bytes), inside the submission's turn.
"""


class TokenAuth(Protocol):
    """Short-lived tokens in place of the static key (see :mod:`tinkex.core.credentials`)."""

    def uses_token(self, operation_id: str) -> bool: ...

    def token(self) -> str: ...

    def replace(self, rejected: str) -> str: ...

    def is_invalid_token(self, response: Response) -> bool: ...


class Dispatcher(Protocol):
    """Admission control for operations with a ``dispatch`` limit."""

    def acquire(self, operation: Operation, body_bytes_estimate: int) -> ContextManager[Any]: ...

    def note_status(self, operation: Operation, status: int) -> None:
        """Told the status of every attempt (a backoff status may tighten the limit)."""


@dataclass(frozen=True)
class EngineHooks:
    """The components that extend an engine's calls, each made from the engine it serves.

    A factory is called once, at the end of the engine's constructor (a future
    poller sends its polls through the engine, credentials their exchange); None
    leaves that part out.
    """

    future_resolver: Callable[[Engine], FutureResolver] | None = None
    sequencer: Callable[[Engine], Sequencer] | None = None
    dispatcher: Callable[[Engine], Dispatcher] | None = None
    token_auth: Callable[[Engine], TokenAuth | None] | None = None


@dataclass(frozen=True)
class _Plan:
    """What every call of one operation shares, computed once."""

    op: Operation
    url: str
    headers: Mapping[str, str]
    timeout: Timeout
    policy: RetryPolicy
    params: Mapping[str, Param]
    required: frozenset[str]
    defaults: tuple[Param, ...]
    body_model: type[pydantic.BaseModel] | None
    result_model: type[pydantic.BaseModel] | None
    event_model: type[pydantic.BaseModel] | None
    """The class of each event of a streaming operation."""
    needs_key: bool
    nullable: frozenset[str]
    """Body fields (by wire name) whose schema allows null: an explicit None is sent."""
    by_wire: Mapping[tuple[str, str], Param]
    """Parameters by (location, wire name), for serialising values given by wire name."""
    auth_query: tuple[tuple[str, str], ...]
    auth_cookies: tuple[tuple[str, str], ...]


class Engine:
    """Config + operation table + transport; thread-safe once the hooks are attached."""

    def __init__(self, document: OperationTable | Source, config: ClientConfig, *,
                 models_module: ModuleType | Mapping[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 random: Callable[[], float] = default_random,
                 rate_limiters: RateLimiterRegistry = PROCESS_RATE_LIMITERS,
                 hooks: EngineHooks | None = None,
                 transport: HTTPTransport | None = None) -> None:
        self.table = load_table(document)
        self.config = config
        self.metrics: Metrics | None = Metrics()
        """Per-operation counters and latencies of every request (None turns them off)."""
        self.tracer: Tracer | None = tracer_for(self.table.tracing, config.tracing)
        """OpenTelemetry spans of every request, when tracing is on."""
        self._models = models_module
        self._clock = clock
        self._retry = RetryLoop(sleep=sleep, clock=clock, random=random)
        self.transport: HTTPTransport = transport or Transport(
            self.table.pools, config.base_url, clock=clock, redact=config.redactor.text)
        """Sends each attempt: requests' pools unless another transport was given."""
        self.resilience = ResilienceStack(
            self.table, base_url=config.base_url,
            api_key=str(config.api_key) if config.api_key is not None else None,
            breakers_enabled=config.circuit_breaker, rate_limiters=rate_limiters,
            clock=clock, sleep=sleep)
        self._idempotency = self.table.idempotency
        self._plans = {op.id: self._plan(op) for op in self.table}
        hooks = hooks or EngineHooks()
        self._future_resolver = hooks.future_resolver(self) if hooks.future_resolver else None
        self._sequencer = hooks.sequencer(self) if hooks.sequencer else None
        self._dispatcher = hooks.dispatcher(self) if hooks.dispatcher else None
        self._token_auth = hooks.token_auth(self) if hooks.token_auth else None

    @property
    def future_resolver(self) -> FutureResolver | None:
        return self._future_resolver

    @property
    def sequencer(self) -> Sequencer | None:
        return self._sequencer

    @property
    def dispatcher(self) -> Dispatcher | None:
        return self._dispatcher

    @property
    def token_auth(self) -> TokenAuth | None:
        return self._token_auth

    # ---- setup -------------------------------------------------------------------------

    def model(self, type_name: str) -> type[pydantic.BaseModel] | None:
        """The pydantic class generated for a component schema, if the models know it."""
        models = self._models
        type_name = self.table.class_names.get(type_name, type_name)
        found = (models.get(type_name) if isinstance(models, Mapping)
                 else getattr(models, type_name, None) if models is not None else None)
        return found if isinstance(found, type) and issubclass(found, pydantic.BaseModel) else None

    def _plan(self, op: Operation) -> _Plan:
        cfg = self.config
        credentials = (resolve(op.id, op.security, self.table.security_schemes,
                               cfg.credential_map(self.table.security_schemes))
                       if op.security else Credentials())
        headers = {"User-Agent": cfg.user_agent, "Accept": JSON, **cfg.headers,
                   **(credentials.headers if credentials else {})}
        policy = op.retry
        if cfg.max_retries is not None and policy.retries:
            policy = policy.with_max_retries(cfg.max_retries)
        body_model = self.model(op.body_type) if op.body_type else None
        schemas = (self.table.document.get("components") or {}).get("schemas") or {}
        nullable = frozenset(p.wire_name for p in op.params
                             if p.location == "body" and allows_null(p.schema, schemas))
        return _Plan(
            op=op, nullable=nullable, url=cfg.base_url + op.path, headers=headers,
            timeout=(cfg.timeout or self.table.default_timeout).merged(op.timeout_override),
            policy=policy, params={p.name: p for p in op.params},
            required=frozenset(p.name for p in op.params if p.required),
            defaults=tuple(p for p in op.params
                           if p.location != "body" and p.default is not None and not p.required),
            body_model=body_model,
            result_model=self.model(op.result_type) if op.result_type else None,
            event_model=self.model(op.stream.event_type) if op.stream else None,
            needs_key=credentials is None,
            by_wire={(p.location, p.wire_name): p for p in op.params},
            auth_query=tuple(credentials.query) if credentials else (),
            auth_cookies=tuple(credentials.cookies) if credentials else (),
        )

    def _plan_for(self, operation_id: str) -> _Plan:
        try:
            return self._plans[operation_id]
        except KeyError:
            raise ValueError(f"unknown operation {operation_id!r}") from None

    # ---- sending -----------------------------------------------------------------------

    def send(self, operation_id: str, *, path_params: Mapping[str, Any] | None = None,
             query: Mapping[str, Any] | QueryParams | None = None,
             headers: Mapping[str, str | None] | None = None, body: Any = None,
             content_type: str | None = None, accept: str | None = None,
             options: RequestOptions = DEFAULT_OPTIONS) -> Response:
        """Send one logical request under the operation's retry policy; return its 2xx response.

        ``body`` is a pydantic model, a JSON-ready value or bytes (then give
        ``content_type``). ``path_params`` and ``query`` are keyed by wire name
        and written in each parameter's style; ``query`` may also be ready
        ``(name, value)`` pairs. A header given as None is not sent. ``options``
        may add headers and query pairs; the body is given whole, so
        ``extra_body`` and ``encode_body`` are refused. Raises the mapped
        APIStatusError for any other status, APIConnectionError /
        APITimeoutError when no response came.
        """
        plan = self._plan_for(operation_id)
        request = self._request(plan, path_params, query, headers, body, content_type, accept,
                                options)
        response, _ = self._send(plan, _policy(plan, options), request, options)
        assert isinstance(response, Response)  # not streamed
        return response

    def send_once(self, operation_id: str, *, path_params: Mapping[str, Any] | None = None,
                  query: Mapping[str, Any] | QueryParams | None = None,
                  headers: Mapping[str, str | None] | None = None, body: Any = None,
                  content_type: str | None = None, accept: str | None = None,
                  options: RequestOptions = DEFAULT_OPTIONS) -> Response:
        """Exactly one attempt; the response whatever its status (for loops that retry themselves).

        Raises only APIConnectionError / APITimeoutError (no response at all).
        ``options.max_retries`` and ``options.retry`` do not apply.
        """
        plan = self._plan_for(operation_id)
        request = self._request(plan, path_params, query, headers, body, content_type, accept,
                                options)
        response, _ = self._send(plan, None, request, options)
        assert isinstance(response, Response)  # not streamed
        return response

    def _request(self, plan: _Plan, path_params: Mapping[str, Any] | None,
                 query: Mapping[str, Any] | QueryParams | None,
                 headers: Mapping[str, str | None] | None, body: Any,
                 content_type: str | None, accept: str | None,
                 options: RequestOptions) -> _Request:
        """The request of :meth:`send`: its arguments by wire name, and the options' extras."""
        if options.extra_body is not None or options.encode_body is not None:
            raise InvalidArgumentError(
                f"{plan.op.id}: send() takes the body whole; extra_body and encode_body "
                "are options of call()", field="extra_body" if options.extra_body is not None
                else "encode_body")
        pairs = _query(plan, query)
        if options.extra_query:
            pairs += _extra_query(options.extra_query)
        if options.extra_headers:
            headers = {**(headers or {}), **_header_values(options.extra_headers)}
        return self._prepare(plan, path_params, pairs, headers, body, content_type, accept)

    def _prepare(self, plan: _Plan, path_params: Mapping[str, Any] | None,
                 pairs: list[tuple[str, str]], call_headers: Mapping[str, str | None] | None,
                 body: Any, content_type: str | None, accept: str | None) -> _Request:
        """URL, query, headers and encoded body of one request, the plan's share included.

        ``call_headers`` (the call's own, e.g. serialised header parameters and the
        caller's extras) come last, so they may replace or (as None) remove any other.
        """
        op = plan.op
        if plan.needs_key:
            raise ConfigError(f"{op.id} needs an API key and none is configured.")
        url = _fill_path(plan, path_params) if "{" in plan.url else plan.url
        params: QueryParams | None = pairs + list(plan.auth_query) if plan.auth_query else pairs
        headers: dict[str, str | None] = dict(plan.headers)
        if plan.auth_cookies:
            headers["Cookie"] = _join_cookies(headers.get("Cookie"), list(plan.auth_cookies))
        content = _encode(body)
        if content is not None and not isinstance(content, Upload):
            if content_type and op.request_media and content_type not in op.request_media:
                raise InvalidArgumentError(f"{op.id} accepts {', '.join(op.request_media)}, "
                                           f"not {content_type}")
            headers["Content-Type"] = content_type or JSON
        if accept:
            headers["Accept"] = accept
        if call_headers:
            headers.update(call_headers)
        return _Request(url, params or None, headers, content)

    def _send(self, plan: _Plan, policy: RetryPolicy | None, request: _Request,
              options: RequestOptions, *, stream: bool = False) -> tuple[Any, RetryReport]:
        """The response, and how the retry loop got it (one attempt when ``policy`` is None).

        With ``stream`` a 2xx comes back as a :class:`StreamedResponse` (body unread).
        """
        op = plan.op
        url, params, headers, content = request
        idem = self._idempotency
        if idem is not None and (op.idempotent or options.idempotency_key):
            headers[idem.header] = options.idempotency_key or f"{idem.prefix}{uuid.uuid4()}"
        count_header = idem.retry_count_header if idem is not None else None
        call_timeout = Timeout.coerce(options.timeout, plan.timeout)
        dispatcher = self.dispatcher if op.dispatch else None
        creds = self.token_auth
        if creds is not None and not (op.auth and creds.uses_token(op.id)):
            creds = None
        auth_header = self.config.auth_header
        pool, method, transport, stack = op.pool, op.method, self.transport, self.resilience
        body_bytes = len(content) if content is not None else 0
        describe = f"{op.id} ({method} {url})"
        send_one = transport.open if stream else transport.request

        def send() -> Response | StreamedResponse:
            if creds is not None:
                headers[auth_header] = creds.token()
            response = send_one(pool, method, url, headers=headers, params=params,
                                content=content, timeout=call_timeout)
            if creds is not None and creds.is_invalid_token(response):  # type: ignore[arg-type]
                # The server refused the token itself: one replay with a fresh one.
                close = getattr(response, "close", None)
                if close is not None:
                    close()
                headers[auth_header] = creds.replace(str(headers[auth_header]))
                response = send_one(pool, method, url, headers=headers, params=params,
                                    content=content, timeout=call_timeout)
            return response

        def attempt(retries_taken: int) -> Response | StreamedResponse:
            if count_header:
                headers[count_header] = str(retries_taken)
            return stack.attempt(op, send, body_bytes, dispatcher, describe)

        if self.tracer is None:
            return self._attempts(op, policy, attempt, describe)
        with self.tracer.call(op.id, method, url, headers) as span:
            response, report = self._attempts(op, policy, attempt, describe)
            span.finished(response.status, report.attempts)
            return response, report

    def _attempts(self, op: Operation, policy: RetryPolicy | None,
                  attempt: Callable[[int], Any], describe: str) -> tuple[Any, RetryReport]:
        """Run the attempts (recorded in the metrics); raise the mapped error for a non-2xx."""
        started = self._clock()
        try:
            if policy is None:
                response = attempt(0)
                report = RetryReport(1, self._clock() - started, response.status, False)
            else:
                response, report = self._retry.run(policy, attempt, describe)
        except (APIConnectionError, CircuitOpenError) as exc:
            if self.metrics is not None:
                kind = ("circuit_open" if isinstance(exc, CircuitOpenError) else
                        "timeout" if isinstance(exc, APITimeoutError) else "connection_error")
                self.metrics.record(op.id, self._clock() - started, exc.attempts, kind)
            raise
        if self.metrics is not None:
            self.metrics.record(op.id, report.elapsed, report.attempts,
                                None if response.ok else str(response.status))
        if policy is not None and not response.ok:
            assert isinstance(response, Response)  # only a 2xx is left unread
            raise self._status_error(op, response, report)
        return response, report

    def _status_error(self, op: Operation, response: Response,
                      report: RetryReport) -> APIStatusError:
        rule = self.table.errors.rule_for(response.status)
        # What the error keeps is what anyone holding it may print or pickle: a server
        # that echoes the credential back must not hand it to them.
        response = response.redacted(self.config.redactor)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        path = response.url.removeprefix(self.config.base_url)
        detail = _detail(body)
        message = f"{op.id}: {op.method} {path} -> HTTP {response.status}"
        message = self.config.redactor.text(f"{message}: {detail}" if detail else message)
        error = (rule.exception if rule else APIStatusError)(
            message, response=response, body=body, request=RequestInfo(op.method, response.url),
            retryable=rule.retryable if rule else False)
        error.record_attempts(report.attempts, report.elapsed, report.last_status, report.exhausted)
        return error

    # ---- the low-level API -------------------------------------------------------------

    def call(self, operation_id: str, options: RequestOptions = DEFAULT_OPTIONS, /,
             **kwargs: Any) -> Any:
        """Call an operation with its parameters and body fields as keywords; return its result.

        The result is parsed into the result model (APIResponseValidationError
        if it does not fit); a future operation's submit response goes through
        ``future_resolver`` when one is attached. ``options`` (positional, so
        no operation parameter can clash with it) says how the call is made; with
        ``options.encode_body`` the body is sent as that function encodes it (see
        :data:`BodyEncoder`), after the sequencer numbered it, so the number is in
        the bytes and the submission keeps its turn. A keyword given as
        :data:`~tinkex.core.options.NOT_GIVEN` is left out; None is sent as null
        for a body field whose schema allows it and left out otherwise.
        """
        plan = self._plan_for(operation_id)
        started = self._clock()
        streaming = plan.op.stream is not None
        response, report = self._call(plan, options, kwargs, stream=streaming)
        if streaming:
            return self._events(plan, response, report)
        result = self._parse(plan, response)
        if plan.op.future is not None and self.future_resolver is not None:
            return self.future_resolver.resolve(plan.op, result, started)
        return result

    def call_raw(self, operation_id: str, options: RequestOptions = DEFAULT_OPTIONS, /,
                 **kwargs: Any) -> RawResponse[Any]:
        """Like :meth:`call`, but return the :class:`~tinkex.core.raw.RawResponse` of the call.

        An error status still raises (as with :meth:`call`); ``parse()`` gives
        the typed result of the HTTP response (a future operation's handle,
        not polled).
        """
        plan = self._plan_for(operation_id)
        response, report = self._call(plan, options, kwargs)
        if plan.op.stream is not None:  # the whole body is in: its events, from memory
            return RawResponse(plan.op.id, response, report,
                               lambda r: self._events(plan, r, report))
        return RawResponse(plan.op.id, response, report, functools.partial(self._parse, plan))

    def call_streamed(self, operation_id: str, options: RequestOptions = DEFAULT_OPTIONS, /,
                      **kwargs: Any) -> StreamedRawResponse[Any]:
        """Like :meth:`call`, but return as soon as the headers are in, the body still unread.

        ``parse()`` of the :class:`~tinkex.core.streaming.StreamedRawResponse` reads
        it: a :class:`~tinkex.core.streaming.Stream` of events for a streaming
        operation, else the typed result (a future operation's handle, not polled).
        """
        plan = self._plan_for(operation_id)
        response, report = self._call(plan, options, kwargs, stream=True)
        if plan.op.stream is not None:
            return StreamedRawResponse(plan.op.id, response, report,
                                       lambda r: self._events(plan, r, report))

        def parse(streamed: StreamedResponse) -> Any:
            body = streamed.read()
            return self._parse(plan, Response(streamed.status, streamed.headers, body,
                                              streamed.elapsed, streamed.method, streamed.url))
        return StreamedRawResponse(plan.op.id, response, report, parse)

    def _events(self, plan: _Plan, response: Response | StreamedResponse,
                report: RetryReport) -> Stream[Any]:
        """The typed events of a streaming operation's 2xx response."""
        op = plan.op
        spec = op.stream
        assert spec is not None
        model = plan.event_model

        def parse(data: bytes) -> Any:
            try:
                return model.model_validate_json(data) if model is not None else json.loads(data)
            except (pydantic.ValidationError, ValueError) as exc:
                message = self.config.redactor.text(
                    f"{op.id}: an event is not a valid {spec.event_type}: {_short(str(exc))}")
                redactor = self.config.redactor
                raise APIResponseValidationError(
                    message, response=Response(response.status, response.headers, data,
                                               response.elapsed, response.method,
                                               response.url).redacted(redactor),
                    body=redactor.text(data.decode(errors="replace")),
                    request=RequestInfo(op.method, response.url)) from exc

        def failed(event: ServerSentEvent) -> StreamError:
            try:
                body: Any = event.json()
            except ValueError:
                body = event.data
            detail = _detail(body)
            return StreamError(self.config.redactor.text(
                f"{op.id}: the server reported an error mid-stream: {detail}"),
                RequestInfo(op.method, response.url), self.config.redactor.value(body))

        if isinstance(response, StreamedResponse):
            chunks: Iterator[bytes] = response.iter_bytes()
            close = response.close
        else:
            chunks, close = iter([response.content]), _nothing
        events = decode_events(spec.format, chunks, parse, error_event=spec.error_event,
                               on_error=failed)
        return Stream(events, response, report, close)

    def _call(self, plan: _Plan, options: RequestOptions, kwargs: Mapping[str, Any], *,
              stream: bool = False) -> tuple[Any, RetryReport]:
        """Route the keywords, build and number the body, and send it under the retry policy."""
        op = plan.op
        path, query, headers, fields, payload = self._route(plan, kwargs)
        if options.extra_query:
            query += _extra_query(options.extra_query)
        if options.extra_headers:
            headers.update(_header_values(options.extra_headers))
        policy = _policy(plan, options)
        if op.body_encoding is not None:
            upload = self._upload(plan, op.body_encoding, fields, options.extra_body)
            headers["Content-Type"] = upload.content_type
            request = self._prepare(plan, path, query, headers, upload, None, None)
            return self._send(plan, policy, request, options, stream=stream)
        encode_body = options.encode_body
        # A number the caller chose (e.g. resubmitting the same request) is sent as is.
        chosen = op.sequence is not None and fields.get(op.sequence.field) is not None
        body = (self._body(plan, fields, options.extra_body, dump=encode_body is None)
                if payload is _UNSET else _whole_body(payload, options.extra_body))
        with self._turn(op, None if chosen else body):
            content: Any = body
            content_type = None
            if encode_body is not None and body is not None:
                encoded = encode_body(body)
                content, content_type = encoded.content, encoded.content_type
                headers.update(encoded.headers)
            request = self._prepare(plan, path, query, headers, content, content_type, None)
            return self._send(plan, policy, request, options, stream=stream)

    def _upload(self, plan: _Plan, encoding: BodyEncoding, fields: dict[str, Any],
                extra: Mapping[str, object] | None) -> Upload:
        """A multipart or raw body; non-file fields are validated by the body model first."""
        if encoding.type == "raw":
            return raw_body(fields.pop(RAW_CONTENT), encoding.media)
        files = {name: fields.pop(name) for name in list(fields)
                 if name in encoding.file_fields and fields[name] is not None}
        # Files stand in as empty bytes while the model checks the other fields.
        stand_ins = {name: [b""] if isinstance(value, (list, tuple)) and value
                     and not isinstance(value[0], str) else b"" for name, value in files.items()}
        form = self._body(plan, {**fields, **stand_ins}, extra) or {}
        for name in files:
            form.pop(name, None)
        return multipart_body(form, files)

    def _route(self, plan: _Plan, kwargs: Mapping[str, Any]
               ) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, str | None],
                          dict[str, Any], Any]:
        """Split keyword arguments into path, query, header (cookies included), body fields
        and whole body, by the operation's params; query and headers already serialised."""
        missing = plan.required.difference(kwargs)
        values: dict[str, tuple[Param, Any]] = {p.name: (p, p.default) for p in plan.defaults}
        for name, value in kwargs.items():
            param = plan.params.get(name)
            if param is None:
                raise TypeError(f"{plan.op.sdk_group}.{plan.op.sdk_method}() got an unexpected "
                                f"keyword argument {name!r}")
            if value is NOT_GIVEN:  # as if not passed: a default stays
                if param.required:
                    missing = missing | {name}
                continue
            values[name] = (param, value)
        if missing:
            raise TypeError(f"{plan.op.sdk_group}.{plan.op.sdk_method}() missing required "
                            f"keyword argument(s): {', '.join(sorted(missing))}")
        path: dict[str, Any] = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str | None] = {}
        cookies: list[tuple[str, str]] = []
        fields: dict[str, Any] = {}
        payload: Any = _UNSET
        for param, value in values.values():
            where = param.location
            if where == "body":
                fields[param.wire_name] = value
            elif where == "payload":
                payload = value
            elif value is None:
                continue
            elif where == "path":
                path[param.wire_name] = value
            elif where == "query":
                _check_range(plan.op, param, value)
                query += query_pairs(param.wire_name, value, param.style, param.explode)
            elif where == "header":
                headers[param.wire_name] = header_value(value, param.explode)
            elif where == "cookie":
                cookies += cookie_pairs(param.wire_name, value, param.explode)
        if cookies:
            headers["Cookie"] = cookie_header(cookies)
        return path, query, headers, fields, payload

    def _body(self, plan: _Plan, fields: dict[str, Any], extra: Mapping[str, object] | None,
              dump: bool = True) -> dict[str, Any] | None:
        """The JSON-ready body: validated by the body model (defaults filled), Nones left out
        except the ones given for a field whose schema allows null.

        Without ``dump`` the values stay validated Python objects (a shallow mapping
        by wire name), for a :data:`BodyEncoder`.
        """
        op = plan.op
        if op.body_type is None and not fields and not extra:
            return None
        seq = op.sequence
        if seq is not None and self.sequencer is not None:
            fields.setdefault(seq.field, seq.start)  # validated now, numbered by the sequencer
        if plan.body_model is not None:
            with checking_arguments(f"{op.sdk_group}.{op.sdk_method}()"):
                model = plan.body_model.model_validate(fields)
            if dump:
                body = model.model_dump(mode="json", by_alias=True, exclude_none=True)
            else:
                body = {info.alias or name: value
                        for name, info in type(model).model_fields.items()
                        if (value := getattr(model, name)) is not None}
        else:
            body = {k: v for k, v in fields.items() if v is not None}
            if dump:
                body = pydantic_core.to_jsonable_python(body, exclude_none=True)
        if plan.nullable:  # an explicit None where null is allowed is sent as null
            for name, value in fields.items():
                if value is None and name in plan.nullable:
                    body[name] = None
        if extra:
            body.update(extra)
        return body

    def _turn(self, op: Operation, body: dict[str, Any] | None) -> ContextManager[Any]:
        if op.sequence is None or self.sequencer is None or body is None:
            return contextlib.nullcontext()
        return self.sequencer.allocate(op, body)

    def _parse(self, plan: _Plan, response: Response) -> Any:
        op = plan.op
        if op.result_type is None:
            return None
        try:
            if plan.result_model is not None:
                return plan.result_model.model_validate_json(response.content)
            return response.json()
        except (pydantic.ValidationError, ValueError) as exc:
            response = response.redacted(self.config.redactor)
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            message = self.config.redactor.text(
                f"{op.id}: the response is not a valid {op.result_type}: {_short(str(exc))}")
            raise APIResponseValidationError(
                message, response=response, body=body,
                request=RequestInfo(op.method, response.url)) from exc

    def answer_field(self, operation_id: str, response: Response, name: str) -> Any:
        """Field ``name`` of a 2xx JSON answer, or APIResponseValidationError naming what is wrong."""
        op = self.table[operation_id]
        model = self.model(op.result_type) if op.result_type else None
        why = None
        try:
            body = response.json()
            if model is not None:
                model.model_validate(body)
        except pydantic.ValidationError as exc:
            why = f"the answer is not a valid {op.result_type}: {_short(str(exc))}"
        except ValueError as exc:
            why = f"the answer is not JSON ({_short(str(exc))})"
        else:
            if not isinstance(body, dict):
                why = f"the answer is a JSON {type(body).__name__}, not an object"
            elif name not in body or body[name] is None:
                why = f"the answer has no {name!r}"
        if why is None:
            return body[name]
        safe = response.redacted(self.config.redactor)
        raise APIResponseValidationError(
            self.config.redactor.text(f"{operation_id}: {why}"), response=safe, body=safe.text,
            request=RequestInfo(op.method, response.url))

    # ---- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pools; later calls raise ClientClosedError."""
        self.transport.close()

    def reset_after_fork(self) -> None:
        """In a forked child: start from fresh connection pools."""
        self.transport.reset_after_fork()
        self.resilience.reset_after_fork()
        if self.metrics is not None:
            self.metrics.reset_after_fork()


class _Request(NamedTuple):
    """One request, ready for its attempts (headers are changed per attempt)."""

    url: str
    params: QueryParams | None
    headers: dict[str, str | None]
    content: bytes | Upload | None


def _policy(plan: _Plan, options: RequestOptions) -> RetryPolicy:
    """The retry policy of one call: the plan's, unless the options change it."""
    if not options.retry:
        return SINGLE_ATTEMPT
    if options.max_retries is not None:
        return plan.op.retry.with_max_retries(options.max_retries)
    return plan.policy


def _extra_query(extra: Mapping[str, object]) -> list[tuple[str, str]]:
    return [pair for name, value in extra.items() if value is not NOT_GIVEN
            for pair in query_pairs(name, value)]


def _header_values(extra: Mapping[str, str | None | Omit]) -> Mapping[str, str | None]:
    """The caller's extra headers; :data:`~tinkex.core.options.omit` (like None) removes one."""
    if any(isinstance(value, Omit) for value in extra.values()):
        return {name: None if isinstance(value, Omit) else value for name, value in extra.items()}
    return extra  # type: ignore[return-value]  # no Omit in it


def _nothing() -> None:
    pass


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def _whole_body(payload: Any, extra: Mapping[str, object] | None) -> Any:
    """A body passed whole (the schema is no object with properties), JSON-ready."""
    if payload is None and not extra:
        return None
    body = pydantic_core.to_jsonable_python(payload, by_alias=True, exclude_none=True)
    if extra and isinstance(body, dict):
        body.update(extra)
    return body


def _query(plan: _Plan, query: Mapping[str, Any] | QueryParams | None) -> list[tuple[str, str]]:
    """Query pairs: a mapping by wire name is written in each parameter's style."""
    if not query:
        return []
    if not isinstance(query, Mapping):
        return list(query)
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        param = plan.by_wire.get(("query", name))
        pairs += (query_pairs(name, value, param.style, param.explode) if param
                  else query_pairs(name, value))
    return pairs


def _join_cookies(existing: str | None, pairs: list[tuple[str, str]]) -> str:
    return "; ".join(part for part in (existing, cookie_header(pairs)) if part)


def _fill_path(plan: _Plan, values: Mapping[str, Any] | None) -> str:
    """The URL with each ``{placeholder}`` replaced by its value in the parameter's style."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not values or values.get(name) is None:
            raise TypeError(f"{plan.op.id} needs the path parameter {name!r}")
        param = plan.by_wire.get(("path", name))
        return (path_value(name, values[name], param.style, param.explode) if param
                else path_value(name, values[name]))
    return _PLACEHOLDER.sub(value, plan.url)


def _encode(body: Any) -> bytes | Upload | None:
    if body is None or isinstance(body, Upload):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, pydantic.BaseModel):
        return body.model_dump_json(by_alias=True, exclude_none=True).encode()
    return pydantic_core.to_json(body)


def _check_range(op: Operation, param: Param, value: Any) -> None:
    """A number outside its parameter's declared range is the caller's mistake: say which."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = param.schema.get("minimum"), param.schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(f"{word} {bound}" for word, bound in
                              (("at least", low), ("at most", high)) if bound is not None)
        raise InvalidArgumentError(f"{op.sdk_group}.{op.sdk_method}(): {param.name} must be "
                                   f"{bounds} (got {value!r})", field=param.name)


def _detail(body: Any) -> str:
    """The server's explanation: ``detail``, ``error`` or ``message`` of a JSON body, else the text."""
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if body.get(key) not in (None, ""):
                value = body[key]
                return _short(value if isinstance(value, str)
                              else pydantic_core.to_json(value).decode())
    if isinstance(body, str):
        return _short(body.strip())
    return _short(pydantic_core.to_json(body).decode()) if body is not None else ""


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"
