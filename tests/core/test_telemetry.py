"""Telemetry: bounded queue, batches, flush triggers, one warning per outage, switch, redaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tinkex.core.telemetry import TelemetryReporter, telemetry_enabled

from .loopback import (
    KEY,
    LoopbackServer,
    Reply,
    kennel,
    kennel_engine,
    serving,
    wait_until,
)

SPEC = kennel()[0].telemetry  # batches of 3, every 30 s, queue of 8, env KENNEL_TELEMETRY



@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    for server in serving():
        server.route("POST", "/reports", lambda r: Reply(200, {}))
        yield server


def payload(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entries": events}


@pytest.fixture
def make_reporter(server: LoopbackServer) -> Iterator[Callable[..., TelemetryReporter]]:
    made: list[TelemetryReporter] = []
    engine = kennel_engine(server.url)

    def make(**kwargs: Any) -> TelemetryReporter:
        reporter = TelemetryReporter(engine, kwargs.pop("build_payload", payload),
                                     environ=kwargs.pop("environ", {}), **kwargs)
        made.append(reporter)
        return reporter

    yield make
    for reporter in made:
        reporter.close()
    engine.close()


def entries(server: LoopbackServer) -> list[list[dict[str, Any]]]:
    return [r.json()["entries"] for r in server.received("/reports")]


def test_close_sends_everything_in_batches_of_at_most_batch_size(server, make_reporter):
    reporter = make_reporter()
    for n in range(7):
        assert reporter.log({"n": n})
    assert server.received("/reports") == []  # the flush interval is 30 s
    reporter.close()
    batches = entries(server)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [e["n"] for b in batches for e in b] == list(range(7))


def test_an_exception_event_is_sent_at_once(server, make_reporter):
    reporter = make_reporter()
    reporter.log({"n": 1})
    reporter.log_exception({"error": "boom"})
    wait_until(lambda: server.received("/reports"), what="the immediate flush")
    assert entries(server) == [[{"n": 1}, {"error": "boom"}]]


def test_a_full_queue_drops_new_events_and_never_blocks(server, make_reporter):
    release = threading.Event()
    server.route("POST", "/reports", lambda r: release.wait(5) and Reply(200, {}))
    reporter = make_reporter()
    reporter.log_exception({"n": -1})
    wait_until(lambda: server.received("/reports"), what="the flusher to be busy")
    started = time.monotonic()
    results = [reporter.log({"n": n}) for n in range(20)]
    assert time.monotonic() - started < 0.5  # the caller never waits for the server
    assert results == [True] * SPEC.queue_size + [False] * (20 - SPEC.queue_size)
    assert reporter.dropped == 20 - SPEC.queue_size
    release.set()


def test_failed_batches_are_dropped_with_one_warning(server, make_reporter, caplog):
    server.route("POST", "/reports", lambda r: Reply(500, {"detail": "nope"}))
    caplog.set_level(logging.DEBUG, logger="tinkex.core.telemetry")
    reporter = make_reporter()

    def dropped() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "dropped a batch" in r.getMessage()]

    for n in range(3):
        reporter.log_exception({"n": n})
        wait_until(lambda n=n: len(dropped()) == n + 1)
    assert [r.levelno for r in dropped()] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert len(server.received("/reports")) == 6  # each batch: the operation's 2 attempts


@pytest.mark.parametrize(("value", "enabled"), [
    (None, True), ("", True), ("1", True), ("ON", True), ("0", False), ("off", False),
    ("true", False)])  # "true" is not one of this document's enabled values
def test_the_env_switch_uses_the_documents_values(value, enabled):
    environ = {} if value is None else {"KENNEL_TELEMETRY": value}
    assert telemetry_enabled(SPEC, environ) is enabled


def test_a_disabled_reporter_starts_no_thread_and_sends_nothing(server, make_reporter):
    reporter = make_reporter(environ={"KENNEL_TELEMETRY": "0"})
    assert not reporter.log_exception({"n": 1})
    assert reporter._thread is None
    reporter.close()
    assert server.received("/reports") == []


def test_no_secret_leaves_in_a_report(server, make_reporter):
    def build(events: list[dict[str, Any]]) -> dict[str, Any]:
        return {"entries": events}

    reporter = make_reporter(build_payload=build)
    reporter.log_exception({
        "error_message": f"401 for key {KEY}",
        "event_data": {"request_headers": {"X-Kennel-Key": "kn-other-secret-value",
                                           "Authorization": f"Bearer {KEY}",
                                           "Accept": "application/json"},
                       "nested": [f"...{KEY}..."]}})
    wait_until(lambda: server.received("/reports"))
    [request] = server.received("/reports")
    raw = request.body.decode()
    assert KEY not in raw and "kn-other-secret-value" not in raw
    sent = request.json()["entries"][0]
    assert sent["event_data"]["request_headers"]["Accept"] == "application/json"
    assert "401 for key" in sent["error_message"]


def test_a_broken_payload_builder_does_not_kill_the_flusher(server, make_reporter, caplog):
    calls: list[int] = []

    def build(events: list[dict[str, Any]]) -> dict[str, Any]:
        calls.append(len(events))
        if len(calls) == 1:
            raise ValueError("cannot build")
        return payload(events)

    reporter = make_reporter(build_payload=build)
    reporter.log_exception({"n": 1})
    wait_until(lambda: calls)
    reporter.log_exception({"n": 2})
    wait_until(lambda: server.received("/reports"))
    assert entries(server) == [[{"n": 2}]]


def test_after_fork_the_reporter_starts_over_lazily(server, make_reporter):
    reporter = make_reporter()
    reporter.log({"n": 1})
    reporter.request_stop()  # as if the parent's flusher were gone
    reporter.join(time.monotonic() + 2)
    reporter.reset_after_fork()
    assert reporter._thread is None and reporter._queue.empty()
    assert reporter.log({"child": True}) and reporter._thread is not None
    reporter.close()
    assert entries(server) == [[{"n": 1}], [{"child": True}]]
