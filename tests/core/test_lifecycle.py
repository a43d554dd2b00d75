"""Threads belong to clients: bounded pools, close joins, exit without close, fork, GC."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tinkex.core import futures, limits, sequencing
from tinkex.core.engine import EngineHooks
from tinkex.core.lifecycle import THREAD_PREFIX, TaskPool, ThreadOwner, join_threads, live_owners
from tinkex.core.session import SessionManager
from tinkex.core.telemetry import TelemetryReporter

from .loopback import (
    LoopbackServer,
    Reply,
    Request,
    kennel_engine,
    serving,
    wait_until,
)

TESTS = Path(__file__).resolve().parents[1]



def kennel_routes(server: LoopbackServer) -> None:
    """A well-behaved kennel server: results wait until the test releases them or closes."""
    server.route("POST", "/visits", lambda r: Reply(200, {"visit_id": "v1"}))
    server.route("POST", "/visits/ping", lambda r: Reply(200, {}))
    server.route("POST", "/visits/v1/end", lambda r: Reply(200, {}))
    server.route("POST", "/reports", lambda r: Reply(200, {}))
    server.route("POST", "/walks", lambda r: Reply(200, {"ticket": str(r.json()["step"])}))
    server.route("POST", "/results", lambda r: Reply(200, {"dog": "rex", "meters": 42}))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    for server in serving():
        kennel_routes(server)
        yield server


class Client:
    """What a domain client assembles: an engine and every background part, one owner."""

    def __init__(self, url: str) -> None:
        self.engine = kennel_engine(url, hooks=EngineHooks(
            future_resolver=futures.poller_for, sequencer=sequencing.sequencer_for,
            dispatcher=limits.dispatcher_for))
        self.owner = ThreadOwner(self.engine)
        poller = self.engine.future_resolver
        assert isinstance(poller, futures.FuturePoller)
        self.poller = self.owner.own(poller)
        self.session = self.owner.own(SessionManager(self.engine))
        self.telemetry = self.owner.own(
            TelemetryReporter(self.engine, lambda events: {"entries": events}, environ={}))

    def close(self) -> None:
        self.session.close("done")
        self.owner.close()
        self.engine.close()


def core_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


# ---- the task pool --------------------------------------------------------------------------


def test_task_pool_is_bounded_and_waiting_tasks_hold_no_thread():
    pool = TaskPool("test", 2)
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def blocker(n: int) -> Any:
        def task() -> None:
            with lock:
                started.append(n)
            release.wait(5)
        return task

    for n in range(5):
        pool.schedule(blocker(n))
    wait_until(lambda: len(started) == 2)
    assert len(pool._threads) == 2  # five tasks, two threads
    release.set()
    wait_until(lambda: len(started) == 5)
    runs: list[float] = []

    def again() -> float | None:
        runs.append(time.monotonic())
        return 0.05 if len(runs) < 3 else None

    quick = threading.Event()
    pool.schedule(again)
    wait_until(lambda: runs)
    pool.schedule(quick.set)  # runs while ``again`` waits for its next turn
    assert quick.wait(5) and len(runs) < 3
    wait_until(lambda: len(runs) == 3)
    assert runs[2] - runs[1] >= 0.05
    pool.request_stop()
    pool.join(time.monotonic() + 2)
    assert not any(t.is_alive() for t in pool._threads)


def test_a_burst_of_tasks_starts_threads_up_to_the_bound():
    pool = TaskPool("burst", 3)
    barrier = threading.Barrier(3, timeout=5)  # only passes if three tasks run at once
    passed: list[int] = []
    for _ in range(3):
        pool.schedule(lambda: passed.append(barrier.wait()))
    wait_until(lambda: len(passed) == 3)
    assert len(pool._threads) == 3
    pool.request_stop()
    pool.join(time.monotonic() + 2)


# ---- the owner ------------------------------------------------------------------------------


class Stubborn:
    """A component whose thread ignores stop requests until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.stop_requested = threading.Event()
        self.thread = threading.Thread(target=self.release.wait, args=(30,), daemon=True)
        self.thread.start()

    def request_stop(self) -> None:
        self.stop_requested.set()

    def join(self, deadline: float) -> None:
        join_threads([self.thread], deadline)

    def reset_after_fork(self) -> None:
        pass


def test_close_gives_up_on_a_stuck_thread_after_the_timeout():
    owner = ThreadOwner()
    stuck = owner.own(Stubborn())
    started = time.monotonic()
    owner.close(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert stuck.stop_requested.is_set() and owner not in live_owners()
    stuck.release.set()
    late = Stubborn()
    late.release.set()
    with pytest.raises(RuntimeError):
        owner.own(late)


def test_a_dropped_owner_asks_its_threads_to_stop():
    owner = ThreadOwner()
    component = owner.own(Stubborn())
    assert owner in live_owners()
    del owner
    gc.collect()
    assert component.stop_requested.is_set()
    component.release.set()


def test_200_client_lifecycles_leave_no_thread_behind(server):
    before = threading.active_count()
    for n in range(200):
        client = Client(server.url)
        client.session.ensure()
        client.telemetry.log({"n": n})
        assert client.engine.call("start_walk", dog="rex").result(5).meters == 42
        assert core_threads()
        client.close()
        assert core_threads() == []
    # The server's connection threads end once the closed pools' sockets are gone.
    wait_until(lambda: threading.active_count() <= before)
    assert len(server.received("/reports")) == 200


# ---- exit without close ---------------------------------------------------------------------


def test_a_script_that_never_closes_exits_promptly_and_flushes_telemetry(server):
    server.route("POST", "/results", lambda r: server.closing.wait(30) and Reply(202, {}))
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from core.test_lifecycle import Client

        client = Client({server.url!r})
        client.session.ensure()
        client.telemetry.log({{"last": "words"}})
        pending = client.engine.call("start_walk", dog="rex")
        print("ready", flush=True)
        sys.stdin.readline()  # the test answers once the heartbeat runs and a poll is held
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        wait_until(lambda: server.received("/results") and server.received("/visits/ping"),
                   what="a held poll and a heartbeat")
        assert proc.stdin is not None
        proc.stdin.write("end\n")
        proc.stdin.flush()
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 4.0
    finally:
        proc.kill()
        proc.wait()
    reports = [r.json()["entries"] for r in server.received("/reports")]
    assert reports == [[{"last": "words"}]]


# ---- fork -----------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_threads_and_can_call(server):
    walks: list[Request] = []
    polls: list[Request] = []
    parent_poll_held, release_parent = threading.Event(), threading.Event()

    def results(request: Request) -> Reply:
        polls.append(request)
        if len(polls) == 1:  # the parent's poll of ``pending`` is held across the fork
            parent_poll_held.set()
            release_parent.wait(10)
        return Reply(200, {"dog": "rex", "meters": 42})

    server.route("POST", "/walks", lambda r: walks.append(r) or Reply(200, {"ticket": "t"}))
    server.route("POST", "/results", results)
    client = Client(server.url)
    try:
        client.session.ensure()
        client.telemetry.log({"from": "parent"})
        pending = client.engine.call("start_walk", dog="rex")
        assert parent_poll_held.wait(5)
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 1
            try:
                fresh = (not client.poller.pool._threads and client.session._thread is None
                         and client.telemetry._thread is None and client.telemetry._queue.empty()
                         and not client.engine.transport._pools)
                inherited = pending.result(5)  # polled again, from the child
                result = client.engine.call("start_walk", dog="rex").result(5)
                client.session.ensure()
                code = 0 if fresh and inherited == result and client.session._thread else 3
            finally:
                os._exit(code)
        deadline = time.monotonic() + 10
        while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "the child did not finish"
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status[1]) == 0
        assert [w.json()["step"] for w in walks] == [1, 2]  # the child continued the numbering
        assert len(polls) == 3 and not pending.done()  # the parent's own poll is still held
        release_parent.set()
        assert pending.result(5).meters == 42
    finally:
        release_parent.set()
        client.close()


def test_a_caller_that_takes_a_due_ticket_runs_it_instead_of_the_pool():
    pool = TaskPool("take", 0)  # no threads: nothing races the caller
    runs: list[str] = []

    def task() -> float | None:
        runs.append(threading.current_thread().name)
        return 0.0 if len(runs) < 2 else None  # "again at once", then done

    ticket = pool.schedule(task)
    assert pool.take(ticket) and not pool.take(ticket)  # claimed once
    assert pool.run(ticket) == 0.0  # queued again, due at once
    assert pool.take(ticket)
    assert pool.run(ticket) is None
    assert not pool.take(ticket)
    assert runs == [threading.current_thread().name] * 2
    later = pool.schedule(task, delay=60)
    assert not pool.take(later)  # not due yet
    pool.request_stop()


def test_a_taken_ticket_is_not_run_by_the_pool_threads():
    pool = TaskPool("take", 1)
    ran = threading.Event()
    sentinel = threading.Event()
    try:
        ticket = pool.schedule(ran.set, delay=0.0)
        if pool.take(ticket):  # unless a thread was faster
            pool.schedule(sentinel.set)
            assert sentinel.wait(10)  # the thread has passed the taken entry by now
            assert not ran.is_set()
    finally:
        pool.request_stop()
        pool.join(time.monotonic() + 10)
