"""The session: created once on first use, heartbeat thread, one warning per outage, finish."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tinkex.core.errors import ClientClosedError
from tinkex.core.session import SessionManager

from .loopback import (
    LoopbackServer,
    Reply,
    kennel,
    kennel_engine,
    wait_until,
)

SPEC = kennel()[0].session  # heartbeat every 10 ms, warning after 0.1 s, 410 stops it




@pytest.fixture
def make_session(server: LoopbackServer) -> Iterator[Callable[..., SessionManager]]:
    made: list[SessionManager] = []
    engine = kennel_engine(server.url)
    server.route("POST", "/visits", lambda r: Reply(200, {"visit_id": "v1"}))
    server.route("POST", "/visits/ping", lambda r: Reply(200, {}))
    server.route("POST", "/visits/v1/end", lambda r: Reply(200, {}))

    def make(**kwargs: object) -> SessionManager:
        session = SessionManager(engine, **kwargs)  # type: ignore[arg-type]
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()
    engine.close()


def test_created_once_on_first_use_even_from_many_threads(server, make_session):
    session = make_session(create_body=lambda: {"owner": "ann"})
    assert not session.created and server.received("/visits") == []
    barrier = threading.Barrier(8)
    ids: list[str | None] = []

    def use() -> None:
        barrier.wait(5)
        ids.append(session.session_id)

    threads = [threading.Thread(target=use, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids == ["v1"] * 8
    [create] = server.received("/visits")
    assert create.json() == {"owner": "ann"}


def test_heartbeat_sends_the_id_once_per_beat_without_retries(server, make_session):
    server.route("POST", "/visits/ping", lambda r: Reply(503, {}))
    spec = dataclasses.replace(SPEC, heartbeat=dataclasses.replace(SPEC.heartbeat, interval=0.1))
    session = make_session(spec=spec)
    session.ensure()
    wait_until(lambda: len(server.received("/visits/ping")) >= 3)
    pings = server.received("/visits/ping")
    assert all(p.json() == {"visit_id": "v1"} for p in pings)
    # The ping operation's own policy retries a 503 after 1 ms; the heartbeat must not.
    assert min(b.at - a.at for a, b in zip(pings, pings[1:], strict=False)) >= 0.05


def test_one_warning_per_outage_after_warn_after(server, make_session, caplog):
    healthy = threading.Event()
    server.route("POST", "/visits/ping",
                 lambda r: Reply(200, {}) if healthy.is_set() else Reply(503, {}))
    caplog.set_level(logging.WARNING, logger="tinkex.core.session")
    session = make_session()
    started = time.monotonic()
    session.ensure()
    wait_until(lambda: caplog.records, what="the warning")
    assert time.monotonic() - started >= SPEC.heartbeat.warn_after
    seen = len(server.received("/visits/ping"))
    wait_until(lambda: len(server.received("/visits/ping")) >= seen + 20)
    assert len(caplog.records) == 1  # not one per failed beat
    assert "v1" in caplog.records[0].getMessage()
    healthy.set()
    seen = len(server.received("/visits/ping"))
    wait_until(lambda: len(server.received("/visits/ping")) >= seen + 2)
    healthy.clear()  # a new outage warns again
    wait_until(lambda: len(caplog.records) == 2, what="the second warning")


def test_a_stop_status_ends_the_heartbeat(server, make_session, caplog):
    server.route("POST", "/visits/ping", lambda r: Reply(410, {"detail": "visit over"}))
    session = make_session()
    session.ensure()
    wait_until(lambda: session._thread is not None and not session._thread.is_alive(),
               what="the heartbeat to stop")
    assert len(server.received("/visits/ping")) == 1


def test_close_finishes_with_the_domain_body_and_stops_promptly(server, make_session):
    session = make_session(finish_body=lambda sid, status: {"outcome": f"{sid}:{status}"})
    with pytest.raises(ValueError):
        session.close("exploded")
    session.ensure()
    heartbeat = session._thread
    session.close("done")
    assert heartbeat is not None and not heartbeat.is_alive()
    [end] = server.received("/visits/v1/end")
    assert end.json() == {"outcome": "v1:done"}
    assert session.session_id == "v1" and session._thread is heartbeat  # readable, not revived
    session.close("done")  # closing twice finishes once
    assert len(server.received("/visits/v1/end")) == 1


def test_close_is_immediate_even_with_a_long_interval(server, make_session):
    slow = dataclasses.replace(SPEC, heartbeat=dataclasses.replace(SPEC.heartbeat, interval=60))
    session = make_session(spec=slow)
    session.ensure()
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 1.0
    assert server.received("/visits/v1/end") == []  # no status: just stop heartbeating


def test_closing_an_unused_session_creates_nothing(server, make_session):
    session = make_session()
    session.close("done")
    with pytest.raises(ClientClosedError):
        session.ensure()
    assert server.requests == []


def test_a_failed_finish_is_logged_not_raised(server, make_session, caplog):
    server.route("POST", "/visits/v1/end", lambda r: Reply(404, {"detail": "unknown visit"}))
    session = make_session()
    session.ensure()
    session.close("aborted")
    assert any("could not finish" in r.getMessage() for r in caplog.records)


def test_after_fork_the_heartbeat_restarts_on_next_use(server, make_session):
    session = make_session()
    session.ensure()
    parent_thread = session._thread
    session.reset_after_fork()  # as in a child, which has none of the parent's threads
    assert session.session_id == "v1"
    assert session._thread is not parent_thread and session._thread.is_alive()
    assert len(server.received("/visits")) == 1  # the session itself is not created again
