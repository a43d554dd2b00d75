"""OpenTelemetry tracing (opt-in): one client span per call, W3C trace context on the wire.

Enabled by the document's ``x-tinkex-tracing.env`` variable (or the client's
``tracing=True``) and only when the optional ``opentelemetry-api`` package is
installed; otherwise nothing is imported and calls pay nothing. Each logical
request (all its attempts) is a ``CLIENT`` span named after the operation, with
the HTTP semantic-convention attributes (method, URL without query, server,
status, resend count) plus ``tinkex.operation_id``; failures are recorded on it.
With ``propagate`` (the default) the configured propagator (W3C
``traceparent`` / ``tracestate`` by default) injects the span's context into
the request headers, so the server's logs can join the trace.

Spans go wherever the application's OpenTelemetry SDK sends them; tinkex
installs no SDK and no exporter. A call joins the trace that is current on the
calling thread; the polls of a future and background housekeeping (heartbeat,
telemetry) run on the client's own threads and start traces of their own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("tinkex.core.tracing")
INSTRUMENTATION = "tinkex"


@dataclass(frozen=True)
class TracingSpec:
    """``x-tinkex-tracing``: the variable that turns tracing on, and whether to propagate."""

    env: str
    enabled_values: tuple[str, ...]
    propagate: bool

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> TracingSpec | None:
        if not spec:
            return None
        return cls(spec["env"], tuple(v.lower() for v in spec.get("enabled_values") or
                                      ("1", "true", "yes", "on")),
                   bool(spec.get("propagate", True)))

    def enabled(self, environ: Mapping[str, str]) -> bool:
        return environ.get(self.env, "").strip().lower() in self.enabled_values


class CallSpan:
    """The span of one call: the engine tells it the outcome."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    def finished(self, status: int, attempts: int) -> None:
        span = self._span
        span.set_attribute("http.response.status_code", status)
        if attempts > 1:
            span.set_attribute("http.request.resend_count", attempts - 1)
        if status >= 400:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


class Tracer:
    """Makes the spans of one client's calls (build it with :func:`tracer_for`)."""

    def __init__(self, propagate: bool) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = trace.get_tracer(INSTRUMENTATION)
        self.propagate = propagate

    @contextlib.contextmanager
    def call(self, operation_id: str, method: str, url: str,
             headers: dict[str, str | None]) -> Iterator[CallSpan]:
        """A client span around one call; its context goes into ``headers``."""
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        parts = urlsplit(url)
        attributes: dict[str, str | int] = {"http.request.method": method, "url.full": url,
                      "server.address": parts.hostname or "",
                      "tinkex.operation_id": operation_id}
        if parts.port:
            attributes["server.port"] = parts.port
        with self._tracer.start_as_current_span(
                operation_id, kind=SpanKind.CLIENT, attributes=attributes,
                record_exception=False, set_status_on_exception=False) as span:
            if self.propagate:
                propagate.inject(headers)
            try:
                yield CallSpan(span)
            except BaseException as exc:
                status = getattr(exc, "status_code", None)
                if isinstance(status, int) and status:
                    span.set_attribute("http.response.status_code", status)
                attempts = getattr(exc, "attempts", 1)
                if isinstance(attempts, int) and attempts > 1:
                    span.set_attribute("http.request.resend_count", attempts - 1)
                span.record_exception(exc)
                kind = str(status) if isinstance(status, int) and status else type(exc).__name__
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR, kind))
                raise


def tracer_for(spec: TracingSpec | None, enabled: bool) -> Tracer | None:
    """A Tracer when tracing is on and opentelemetry-api is installed, else None."""
    if not enabled:
        return None
    try:
        return Tracer(spec.propagate if spec is not None else True)
    except ImportError:
        log.warning("tracing is on but opentelemetry-api is not installed: "
                    "pip install opentelemetry-api (calls are not traced)")
        return None
