"""The state one ServiceClient shares with the clients it creates.

A ``ClientContext`` wires the generic core to Tinker: it resolves the
configuration, builds the engine from the compiled document, attaches the
future poller, sequencer and dispatch limiter, and owns the session (with its
heartbeat) and the telemetry reporter. Every background thread belongs to its
:class:`~tinkex.core.lifecycle.ThreadOwner`, so ``close()`` stops them all.
"""

from __future__ import annotations

import datetime as _dt
import functools
import itertools
import logging
import os
import platform
import threading
import traceback
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tinkex import console, wire
from tinkex._spec import load_operation_table
from tinkex._version import __version__
from tinkex.core import credentials, futures, limits, sequencing
from tinkex.core.api import api_classes
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine, EngineHooks
from tinkex.core.errors import ConfigError, NotFoundError, SDKError
from tinkex.core.futures import APIFuture, FuturePoller
from tinkex.core.lifecycle import ThreadOwner
from tinkex.core.model.operations import OperationTable
from tinkex.core.offload import Lane, Offloader
from tinkex.core.session import SessionManager
from tinkex.core.telemetry import TelemetryReporter
from tinkex.core.transport import HTTPTransport, Timeout
from tinkex.types import ClientConfigResponse, WhoamiResponse, _generated

T = TypeVar("T")
OFFLOAD_THREADS = 8
"""Threads for blocking calls made in the background (``*_async`` submits, ``*_future`` twins,
REST calls): enough to keep the sample pool's connections busy, few enough to stay cheap."""
_PROCESS_UUID = str(uuid.uuid4())
_PROCESS_PID = os.getpid()


def process_uuid() -> str:
    """A random id per process (a forked child gets its own)."""
    global _PROCESS_UUID, _PROCESS_PID
    if os.getpid() != _PROCESS_PID:
        _PROCESS_UUID, _PROCESS_PID = str(uuid.uuid4()), os.getpid()
    return _PROCESS_UUID


def configure_logging(environ: Mapping[str, str], env_name: str | None) -> None:
    """Honour the log-level variable (``TINKER_LOG=debug``): tinkex is quiet otherwise."""
    raw = environ.get(env_name, "").strip().upper() if env_name else ""
    if not raw:
        return
    level = logging.getLevelName(raw)
    if not isinstance(level, int):
        logging.getLogger("tinkex").warning("ignoring %s=%r: not a log level", env_name, raw)
        return
    logger = logging.getLogger("tinkex")
    logger.setLevel(level)
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def _tags(environ: Mapping[str, str], env_name: str | None) -> list[str]:
    raw = environ.get(env_name, "") if env_name else ""
    return sorted({t.strip() for t in raw.split(",") if t.strip()})


def relay_queue_state(source: APIFuture[Any], target: APIFuture[Any]) -> None:
    """Report the queue-state changes of ``source`` as those of ``target``.

    For futures built on request futures (a sample that may be resubmitted, the
    combination of chunks, the two passes of a custom loss, ``map``): the poller
    records queue states on the request futures only, so observers registered on
    the future the caller holds would otherwise never hear them.
    """
    def relay(state: str, reason: str | None) -> None:
        target.note_queue_state(state, reason)

    source.add_queue_state_observer(relay)


def _session_body(constants: Mapping[str, Any], tags: list[str], user_metadata: dict[str, str],
                  project_id: str | None, display_name: str | None) -> dict[str, Any]:
    """The create-session body; ``constants``: the fields its schema fixes (the discriminator)."""
    body: dict[str, Any] = {"tags": tags, "user_metadata": user_metadata,
                            "sdk_version": __version__, **constants}
    if project_id:
        body["project_id"] = project_id
    if display_name:
        body["display_name"] = display_name
    return body


def _finish_body(detail: Mapping[str, str | None], session_id: str | None,
                 status: str) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": {"type": status}}
    if detail["detail"] is not None:
        body["detail"] = detail["detail"]
    return body


def _telemetry_payload(session: SessionManager | None, sessionless_id: str,
                       events: list[Mapping[str, Any]]) -> dict[str, Any]:
    session_id = session._session_id if session is not None and session.created else None
    return {"events": events, "platform": platform.system(), "sdk_version": __version__,
            "session_id": session_id or sessionless_id, "process_uuid": process_uuid()}


H = TypeVar("H")


def _made(hook: object, kind: type[H]) -> H:
    """A hook the engine made from this module's factory, as its concrete class."""
    if not isinstance(hook, kind):
        raise TypeError(f"expected the engine's hook to be a {kind.__name__}, not {hook!r}")
    return hook


class _HoldingPoller:
    """The engine's future resolver: the poller's, and each future holds the context.

    Otherwise ``ServiceClient().create_sampling_client(...).sample(...)`` could
    lose its client (and its poller threads) to the garbage collector while the
    caller still waits for the result. The engine keeps only a weak reference, so
    an idle, forgotten client is still collected.
    """

    def __init__(self, poller: FuturePoller, owner: weakref.ref[ClientContext]) -> None:
        self.poller = poller
        self._owner = owner

    def resolve(self, operation: Any, submitted: Any, submit_started_at: float) -> APIFuture[Any]:
        future = self.poller.resolve(operation, submitted, submit_started_at)
        future.hold(self._owner())
        return future


class SessionCounters:
    """Per-session counters from 0 (``model_seq_id``, ``sampling_session_seq_id``), thread-safe."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def next(self, counter: str) -> int:
        with self._lock:
            return next(self._counters.setdefault(counter, itertools.count()))


class ServerFacts:
    """What a client learns from the server, once: its client config and the pass wire.

    The only state of a context that changes after construction, kept here so that
    the context itself is set up once and read-only afterwards.
    """

    def __init__(self, fetch_config: Callable[[], ClientConfigResponse],
                 wire_format: wire.WireFormat) -> None:
        self._fetch_config = fetch_config
        self._wire_format = wire_format
        self.config: ClientConfigResponse | None = None
        """The client config, once something fetched it (None until then)."""
        self._pass_wire: wire.PassWire | None = None
        self._pass_wire_lock = threading.Lock()

    def fetched_config(self) -> ClientConfigResponse:
        """The client config, fetched on first use, then cached."""
        if self.config is None:
            self.config = self._fetch_config()
        return self.config

    def pass_wire(self) -> wire.PassWire:
        """Negotiated on the first call from ``wire_format`` and (unless it is ``"json"``)
        the client config; a server without one (404) gets JSON."""
        with self._pass_wire_lock:
            if self._pass_wire is None:
                config = None
                if self._wire_format != "json":
                    try:
                        config = self.fetched_config()
                    except NotFoundError:
                        config = None
                self._pass_wire = wire.PassWire.negotiate(self._wire_format, config)
            return self._pass_wire


def _jwt_enabled(context: weakref.ref[ClientContext]) -> Callable[[], bool]:
    """Whether the server wants JWTs: its client config, once fetched, says so.

    The config is fetched when something needs it (the first pass, ``whoami``),
    not for this; until then the key is sent, which servers accept either way.
    Holds the context weakly: the engine keeps this and must not keep its owner alive.
    """
    def enabled() -> bool:
        ctx = context()
        config = ctx.server.config if ctx is not None else None
        return bool(config is not None and config.pjwt_auth_enabled)
    return enabled


def whoami_from_claims(claims: Mapping[str, Any]) -> WhoamiResponse:
    """The principal a JWT names: ``sub``, ``tml:organization:<org_id>``, ``email``."""
    try:
        return WhoamiResponse(user_urn=str(claims["sub"]),
                              org_urn=f"tml:organization:{claims['org_id']}",
                              email=str(claims.get("email") or "") or None)
    except KeyError as exc:
        raise ConfigError(f"the identity token has no {exc.args[0]!r} claim") from None


class ClientContext:
    """Engine + background components of one client family, closed together.

    Immutable once built: what changes while it runs lives in objects it owns
    (:class:`SessionCounters`, :class:`ServerFacts`, the session manager, the
    telemetry reporter), each with its own lock.
    """

    _built = False

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None,
                 user_metadata: Mapping[str, str] | None = None, project_id: str | None = None,
                 display_name: str | None = None,
                 default_headers: Mapping[str, str] | None = None,
                 timeout: float | tuple[float, float] | Timeout | None = None,
                 max_retries: int | None = None, session_id: str | None = None,
                 with_session: bool = True, environ: Mapping[str, str] | None = None,
                 wire_format: str = "auto", circuit_breaker: bool | None = None,
                 tracing: bool | None = None, table: OperationTable | None = None,
                 transport: HTTPTransport | None = None) -> None:
        env = os.environ if environ is None else environ
        self.wire_format = wire.check_wire_format(wire_format)
        packaged = load_operation_table()
        table = table or packaged
        configure_logging(env, table.api.env.get("log_level"))
        self.config = ClientConfig.resolve(
            table, api_key=api_key, base_url=base_url, default_headers=default_headers,
            timeout=timeout, max_retries=max_retries, sdk_version=__version__, environ=env,
            circuit_breaker=circuit_breaker, tracing=tracing)
        me = weakref.ref(self)
        decoders = wire.result_decoders(self.wire_format)
        hooks = EngineHooks(
            future_resolver=lambda engine: _HoldingPoller(
                futures.poller_for(engine, decoders=decoders), me),
            sequencer=sequencing.sequencer_for, dispatcher=limits.dispatcher_for,
            token_auth=lambda engine: credentials.credentials_for(engine, _jwt_enabled(me)))
        self.engine = Engine(table, self.config, models_module=_generated, hooks=hooks,
                             transport=transport)
        self.owner = ThreadOwner(self.engine)
        self.poller: FuturePoller = self.owner.own(
            _made(self.engine.future_resolver, _HoldingPoller).poller)
        self.offloader = self.owner.own(Offloader("offload", OFFLOAD_THREADS))
        self.sequencer = _made(self.engine.sequencer, sequencing.Sequencer)
        self.dispatcher = _made(self.engine.dispatcher, limits.Dispatcher)
        token_auth = self.engine.token_auth
        self.credentials = (None if token_auth is None
                            else _made(token_auth, credentials.TokenCredentials))
        # The API classes are built from the document on first use, not by ``import tinkex``.
        from tinkex._api import TinkerAPI

        self.api: TinkerAPI = (TinkerAPI(self.engine) if table is packaged  # else: its own API
                         else api_classes(table, models=_generated)[table.client_class](self.engine))
        project_env = table.api.env.get("project_id")
        self.project_id = project_id or (env.get(project_env) if project_env else None) or None
        self.user_metadata = dict(user_metadata or {})
        self.display_name = display_name
        self._tags = _tags(env, table.api.env.get("tags"))
        self.counters = SessionCounters()
        self._event_index = itertools.count()
        self._sessionless_id = f"sessionless-{uuid.uuid4()}"
        api = self.api
        self.server = ServerFacts(
            lambda: api.service.get_client_config(sdk_version=__version__), self.wire_format)
        # Background threads get plain data and small closures, never this context: a
        # client nobody references any more can then be garbage-collected, and its
        # ThreadOwner's finalizer stops the threads (pending futures keep it alive, below).
        self.session: SessionManager | None = None
        finish_detail: dict[str, str | None] = {"detail": None}
        self._finish_detail = finish_detail
        if with_session:
            spec = table.session
            create = table[spec.create].body_constants() if spec else {}
            beat = table[spec.heartbeat.operation].body_constants() if spec and spec.heartbeat else {}
            self.session = self.owner.own(SessionManager(
                self.engine, create_body=_session_body(create, self._tags, self.user_metadata,
                                                       self.project_id, self.display_name),
                heartbeat_body=lambda sid: {"session_id": sid, **beat},
                finish_body=functools.partial(_finish_body, finish_detail)))
            if session_id is not None:
                self.session.adopt(session_id)
        self.telemetry = self.owner.own(TelemetryReporter(
            self.engine, functools.partial(_telemetry_payload, self.session, self._sessionless_id),
            environ=env))
        self._built = True
        self.log_event("SESSION_START", severity="INFO")

    def __setattr__(self, name: str, value: Any) -> None:
        if self._built:
            raise AttributeError(f"a ClientContext is immutable once built (setting {name!r})")
        object.__setattr__(self, name, value)

    # ---- session and counters -----------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The server session (created on first use, then heartbeated)."""
        if self.session is None:
            raise RuntimeError("this client has no session (REST-only)")
        session_id = self.session.ensure()
        assert session_id is not None
        return session_id

    def next_number(self, counter: str) -> int:
        """Per-session counters from 0: ``model_seq_id``, ``sampling_session_seq_id``."""
        return self.counters.next(counter)

    @property
    def server_config(self) -> ClientConfigResponse:
        """The server's client configuration (feature flags), fetched once."""
        return self.server.fetched_config()

    def console_base_url(self, fetch: bool = True) -> str:
        """Where the console lives (see :mod:`tinkex.console`), from the server's client config.

        With ``fetch`` the config is fetched if nothing needed it yet (one request, then
        cached); without, only a config already fetched counts. A server without a client
        config, or a closed client, has the hosted console.
        """
        config = self.server.config
        if config is None and fetch and not self.owner.closed:
            try:
                config = self.server_config
            except SDKError:
                config = None
        return console.console_base_url(config)

    @property
    def pass_wire(self) -> wire.PassWire:
        """How forward / forward_backward requests travel (see :mod:`tinkex.wire`).

        Settled on the first pass, from ``wire_format`` and (unless that is
        ``"json"``) the server's client config; a server without one (404) gets JSON.
        """
        return self.server.pass_wire()

    def whoami(self) -> WhoamiResponse:
        """The calling principal, from the claims of the JWT this client holds (no request
        of its own beyond minting one); an error when the server does not use JWTs."""
        creds = self.credentials
        if creds is not None:
            try:
                _ = self.server_config  # fetched once; it says whether the server uses JWTs
            except NotFoundError:
                pass
            if creds.enabled:
                return whoami_from_claims(creds.claims())
        key = self.config.api_key
        if key is not None and str.__str__(key).startswith("eyJ"):
            return whoami_from_claims(credentials.jwt_claims(str.__str__(key)))
        raise ConfigError("whoami needs JWT auth, but the server has it disabled and the "
                          "credential is a plain API key.")

    # ---- background work ----------------------------------------------------------------

    def in_background(self, fn: Callable[..., T], *args: Any, lane: Lane | None = None,
                      **kwargs: Any) -> APIFuture[T]:
        """Run a blocking call on the client's threads (in ``lane``'s order); an APIFuture of it."""
        return self.offloader.submit(fn, *args, lane=lane, **kwargs)

    # ---- telemetry ----------------------------------------------------------------------

    def _event(self, kind: str, severity: str, **fields: Any) -> dict[str, Any]:
        return {"event": kind, "event_id": str(uuid.uuid4()),
                "event_session_index": next(self._event_index), "severity": severity,
                "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(), **fields}

    def log_event(self, kind: str, severity: str = "INFO", **fields: Any) -> None:
        self.telemetry.log(self._event(kind, severity, **fields))

    def log_exception(self, exc: BaseException, where: str) -> None:
        """Report an exception that escaped a public method (sent at once)."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.telemetry.log_exception(self._event(
            "UNHANDLED_EXCEPTION", "ERROR", error_type=type(exc).__name__,
            error_message=f"{where}: {exc}", traceback=tb))

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self, status: str | None = "success", detail: str | None = None) -> None:
        """Finish the session (when one was created), flush telemetry, stop every thread."""
        if self.owner.closed:
            return
        self._finish_detail["detail"] = detail
        if self.session is not None:
            self.session.close(status if self.session.created else None)
        self.owner.close()
        self.engine.close()

    @property
    def closed(self) -> bool:
        return self.owner.closed
