"""OpenTelemetry: one client span per call, traceparent on the wire, opt-in (petstore, loopback)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine
from tinkex.core.errors import NotFoundError
from tinkex.core.ratelimit import RateLimiterRegistry
from tinkex.core.tracing import tracer_for

from .conftest import CANARY
from .loopback import Reply

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
export = pytest.importorskip("opentelemetry.sdk.trace.export")

PET = {"id": 1, "name": "Rex", "species": "dog"}
_EXPORTER = in_memory.InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    current = trace.get_tracer_provider()
    if not isinstance(current, sdk_trace.TracerProvider):
        current = sdk_trace.TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(export.SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[in_memory.InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def engine_for(server, table, models, **config) -> Engine:
    cfg = ClientConfig.resolve(table, api_key=CANARY, base_url=server.url, **config)
    return Engine(table, cfg, models_module=models, rate_limiters=RateLimiterRegistry(),
                  sleep=lambda seconds: None)


def test_each_call_is_a_client_span_and_its_context_is_sent(server, pet_table, pet_models,
                                                            spans):
    server.script("GET", "/pets/1", [Reply(503), Reply(200, PET)])
    engine = engine_for(server, pet_table, pet_models, environ={}, tracing=True)
    try:
        parent_tracer = trace.get_tracer("test")
        with parent_tracer.start_as_current_span("training step") as parent:
            engine.call("get_pet", pet_id=1)
    finally:
        engine.close()
    finished = {s.name: s for s in spans.get_finished_spans()}
    span = finished["get_pet"]
    assert span.kind == trace.SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.attributes["tinkex.operation_id"] == "get_pet"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.full"] == f"{server.url}/pets/1"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.request.resend_count"] == 1
    assert span.status.status_code == trace.StatusCode.UNSET
    ctx = span.get_span_context()
    sent = [r.headers["traceparent"] for r in server.received("/pets/1")]
    flags = int(ctx.trace_flags)
    assert sent == [f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"] * 2  # all attempts
    assert all(CANARY not in str(v) for v in span.attributes.values())


def test_a_failed_call_marks_its_span(server, pet_table, pet_models, spans):
    server.script("GET", "/pets/9", [Reply(404, {"detail": "no such pet"})])
    engine = engine_for(server, pet_table, pet_models, environ={}, tracing=True)
    try:
        with pytest.raises(NotFoundError):
            engine.call("get_pet", pet_id=9)
    finally:
        engine.close()
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["error.type"] == "404"
    assert [e.name for e in span.events] == ["exception"]


def test_tracing_is_off_unless_asked(server, pet_table, pet_models, spans):
    server.route("GET", "/pets/1", lambda r: Reply(200, PET))
    off = engine_for(server, pet_table, pet_models, environ={})
    on = engine_for(server, pet_table, pet_models, environ={"PETSTORE_OTEL": "yes"})
    try:
        assert off.tracer is None and on.tracer is not None
        off.call("get_pet", pet_id=1)
        assert spans.get_finished_spans() == () and \
            "traceparent" not in server.received("/pets/1")[0].headers
        on.call("get_pet", pet_id=1)
        assert [s.name for s in spans.get_finished_spans()] == ["get_pet"]
    finally:
        off.close()
        on.close()


def test_without_the_package_tracing_warns_and_stays_off(pet_table, monkeypatch, caplog):
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import now fails
    with caplog.at_level("WARNING", logger="tinkex.core.tracing"):
        assert tracer_for(pet_table.tracing, True) is None
    assert "opentelemetry-api is not installed" in caplog.text
