"""Futures: APIFuture semantics, and how the poller reads every kind of retrieve answer.

The classification tests drive the poller with a scripted engine (no HTTP);
the timing tests use a real engine against the loopback server. All signals
come from the kennel document's ``x-tinkex-futures`` (different names, headers
and statuses from Tinker's), which is what proves the poller generic.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tinkex.core import futures
from tinkex.core.config import ClientConfig
from tinkex.core.engine import EngineHooks
from tinkex.core.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    FutureExpiredError,
    NotFoundError,
    RequestFailedError,
    RequestInfo,
)
from tinkex.core.futures import APIFuture, CombinedFuture, FuturePoller
from tinkex.core.retry import Backoff
from tinkex.core.transport import Headers, Response

from .loopback import (
    KEY,
    LoopbackServer,
    Reply,
    Request,
    kennel,
    kennel_engine,
    kennel_variant,
    wait_until,
)

TABLE, MODELS = kennel()
WALK, RUN = TABLE["start_walk"], TABLE["start_run"]
FAST = dataclasses.replace(TABLE.futures, backoff=Backoff(initial=0.001, max=0.001))
REPORT = {"dog": "rex", "meters": 42}
RequestErrorCategory: Any = TABLE.futures.failure.category_type  # the document's categories



# ---- a scripted engine ----------------------------------------------------------------------

Script = Callable[[dict[str, Any]], Any]


def resp(status: int, body: Any = None, content_type: str = "application/json") -> Response:
    content = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    headers = Headers([("Content-Type", content_type)] if content else [])
    return Response(status, headers, content, 0.0, "POST", "http://kennel.test/results")


class ScriptedEngine:
    """What the poller uses of an engine; each ticket answers from its own list of replies.

    A reply is a Response, an exception to raise, or ``fn(request_kwargs)``
    returning either; the last reply repeats.
    """

    def __init__(self, **scripts: list[Any]) -> None:
        self.table = TABLE
        self.config = ClientConfig.resolve(TABLE, api_key=KEY, environ={})
        self.scripts = scripts
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send_once(self, operation_id: str, **kwargs: Any) -> Response:
        assert operation_id == "fetch_result"
        ticket = kwargs["body"]["ticket"]
        with self.lock:
            self.sent.append(kwargs)
            script = self.scripts[ticket]
            reply = script.pop(0) if len(script) > 1 else script[0]
        if callable(reply):
            reply = reply(kwargs)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def model(self, type_name: str) -> Any:
        return getattr(MODELS, type_name, None)

    def polls(self, ticket: str) -> list[dict[str, Any]]:
        with self.lock:
            return [k for k in self.sent if k["body"]["ticket"] == ticket]


@pytest.fixture
def make_poller() -> Iterator[Callable[..., tuple[FuturePoller, ScriptedEngine]]]:
    pollers: list[FuturePoller] = []

    def make(spec: Any = FAST, decoders: Any = None, **scripts: list[Any]
             ) -> tuple[FuturePoller, ScriptedEngine]:
        engine = ScriptedEngine(**scripts)
        poller = FuturePoller(engine, spec, decoders=decoders)  # type: ignore[arg-type]
        pollers.append(poller)
        return poller, engine

    yield make
    for poller in pollers:
        poller.close()


def gate() -> tuple[threading.Event, Callable[[Response], Script]]:
    """An event, and a reply factory whose replies wait for it."""
    event = threading.Event()

    def after(response: Response) -> Script:
        def reply(_: dict[str, Any]) -> Response:
            assert event.wait(5)
            return response
        return reply

    return event, after


# ---- APIFuture ------------------------------------------------------------------------------


def test_ready_made_futures_map_and_combine():
    assert APIFuture.from_value(2).map(lambda v: v * 10).result() == 20
    failed = APIFuture.from_exception(KeyError("k"))
    with pytest.raises(KeyError):
        failed.map(lambda v: v).result()
    combined = CombinedFuture([APIFuture.from_value(1), APIFuture.from_value(2)], sum)
    assert combined.result() == 3
    assert CombinedFuture([], lambda results: results).result() == []
    broken = CombinedFuture([APIFuture.from_value(1)], lambda results: 1 / 0)
    assert isinstance(broken.exception(), ZeroDivisionError)


def test_combined_future_waits_for_all_and_fails_on_the_first_failure():
    a, b = APIFuture[int](), APIFuture[int]()
    combined = CombinedFuture([a, b], lambda results: results)
    a.set_result(1)
    assert not combined.done()
    b.set_result(2)
    assert combined.result(1) == [1, 2]
    c, d = APIFuture[int](), APIFuture[int]()
    failing = CombinedFuture([c, d], lambda results: results)
    c.set_exception(ValueError("chunk failed"))
    with pytest.raises(ValueError):
        failing.result(1)
    e = APIFuture[int]()
    cancelled = CombinedFuture([e], lambda results: results)
    assert cancelled.cancel() and e.cancelled()


def test_result_timeout_is_the_builtin_timeout_error_and_cancel_notifies_waiters():
    pending, other = APIFuture[int](), APIFuture[int]()
    with pytest.raises(TimeoutError):
        pending.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        pending.exception(timeout=0.01)
    assert pending.running()
    ready = APIFuture.from_value(1)
    done, not_done = concurrent.futures.wait([pending, ready], timeout=1,
                                             return_when=concurrent.futures.FIRST_COMPLETED)
    assert done == {ready} and not_done == {pending}
    seen: list[APIFuture[int]] = []
    pending.add_done_callback(seen.append)
    assert pending.cancel() and not pending.running()
    assert seen == [pending]
    assert list(concurrent.futures.as_completed([pending], timeout=1)) == [pending]
    assert not ready.cancel()
    other.set_result(5)
    assert concurrent.futures.wait([pending, other], timeout=1).not_done == set()


# ---- what the poller sends ------------------------------------------------------------------


def test_polls_carry_the_spec_fields_and_headers(make_poller):
    poller, engine = make_poller(t1=[resp(202), resp(200, REPORT)])
    future = poller.resolve(WALK, MODELS.Ticket(ticket="t1"), 0.0)
    assert future.request_id == "t1"
    wait_until(future.done, what="the result, without anyone calling result()")
    first, second = engine.polls("t1")
    assert first["body"] == {"ticket": "t1", "summary_ok": True}
    assert first["headers"] == {"X-Poll-Round": "0", "X-Job-Kind": "Walk"}
    assert first["accept"] == "application/json"
    assert first["options"].timeout == 5.0
    assert second["headers"]["X-Poll-Round"] == "1"
    assert future.result() == MODELS.WalkReport(**REPORT)


def test_the_poller_hook_resolves_futures_for_its_engine():
    engine = ScriptedEngine(t1=[resp(200, REPORT)])
    poller = futures.poller_for(engine)  # type: ignore[arg-type]
    try:
        assert poller.engine is engine
        assert poller.resolve(WALK, {"ticket": "t1"}, 0.0).result(5).meters == 42
    finally:
        poller.close()


# ---- classification -------------------------------------------------------------------------


def test_not_ready_answers_repoll_and_report_changed_queue_states(make_poller):
    go, after = gate()
    poller, engine = make_poller(t1=[
        after(resp(202, {"queue": "stalled", "why": "busy"})),
        resp(202, {"queue": "stalled", "why": "busy"}),  # unchanged: not reported again
        resp(200, {"kind": "later", "queue": "moving"}),  # the body marker also means not ready
        resp(202, {"queue": "on-the-moon"}),  # not a declared value
        resp(202),  # no body: nothing to report
        resp(200, REPORT)])
    client_seen: list[tuple[str, str | None]] = []
    future_seen: list[tuple[str, str | None]] = []
    poller.add_queue_state_observer(lambda s, r: client_seen.append((s, r)))
    future = poller.resolve(WALK, {"ticket": "t1"}, 0.0)
    future.add_queue_state_observer(lambda s, r: future_seen.append((s, r)))
    go.set()
    assert future.result(5).meters == 42
    expected = [("stalled", "busy"), ("moving", None), ("unknown", None)]
    assert client_seen == expected == future_seen
    late: list[tuple[str, str | None]] = []
    future.add_queue_state_observer(lambda s, r: late.append((s, r)))
    assert late == [("unknown", None)]  # a late observer hears the last known state
    assert len(engine.polls("t1")) == 6


@pytest.mark.parametrize(("blame", "category"), [
    ("user", RequestErrorCategory.USER), ("server", RequestErrorCategory.SERVER),
    ("space-rays", RequestErrorCategory.UNKNOWN), (None, RequestErrorCategory.UNKNOWN)])
def test_failure_field_raises_request_failed_error_with_its_category(make_poller, blame, category):
    body = {"problem": f"bad leash {KEY}"} | ({"blame": blame} if blame else {})
    poller, _ = make_poller(t1=[resp(200, body)])
    error = poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5)
    assert isinstance(error, RequestFailedError)
    assert error.category is category and error.request_id == "t1"
    assert "bad leash" in error.message and KEY not in error.message


def test_the_categories_are_the_documents(make_poller):
    table = kennel_variant("categories: [user, server, unknown],\n            default_category: unknown",
                           "categories: [owner, dog],\n            default_category: dog")
    kinds: Any = table.futures.failure.category_type
    assert [c.value for c in kinds] == ["owner", "dog"] and kinds.Owner is kinds.OWNER
    spec = dataclasses.replace(table.futures, backoff=FAST.backoff)
    poller, _ = make_poller(spec, t1=[resp(200, {"problem": "?", "blame": "owner"})],
                            t2=[resp(200, {"problem": "?", "blame": "user"})])
    assert poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5).category is kinds.OWNER
    assert poller.resolve(WALK, {"ticket": "t2"}, 0.0).exception(5).category is kinds.DOG


def test_an_unlisted_category_becomes_the_spec_default(make_poller):
    spec = dataclasses.replace(FAST, failure=dataclasses.replace(FAST.failure,
                                                                  default_category="server"))
    poller, _ = make_poller(spec, t1=[resp(200, {"problem": "?", "blame": "cosmic"})])
    error = poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5)
    assert isinstance(error, RequestFailedError) and error.category is RequestErrorCategory.SERVER


def test_expired_and_other_client_errors_are_terminal(make_poller):
    poller, engine = make_poller(t1=[resp(410)], t2=[resp(404, {"detail": "gone"})],
                                 t3=[resp(403)])
    assert isinstance(poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5), FutureExpiredError)
    assert isinstance(poller.resolve(WALK, {"ticket": "t2"}, 0.0).exception(5), NotFoundError)
    forbidden = poller.resolve(WALK, {"ticket": "t3"}, 0.0).exception(5)
    assert type(forbidden) is APIStatusError and forbidden.status_code == 403
    assert [len(engine.polls(t)) for t in ("t1", "t2", "t3")] == [1, 1, 1]


def test_after_a_caller_poll_outlasts_its_wait_callers_leave_polls_to_the_pool(make_poller):
    def held_past_the_caller(kwargs: dict[str, Any]) -> Any:
        if kwargs["options"].timeout == futures.CALLER_POLL_TIMEOUT:  # the server holds the poll
            return APITimeoutError("held", request=RequestInfo("POST", "http://kennel.test/r"))
        return resp(200, REPORT)

    poller, engine = make_poller(t1=[held_past_the_caller], t2=[held_past_the_caller])
    threads = poller.pool.max_threads
    poller.pool.max_threads = 0  # no pool thread takes the polls until the test allows it
    first = poller.resolve(WALK, {"ticket": "t1"}, 0.0)
    second = poller.resolve(WALK, {"ticket": "t2"}, 0.0)
    assert first._on_block is not None and second._on_block is not None
    first._on_block()  # what result() does before it blocks: the caller polls, then hands back
    assert [p["options"].timeout for p in engine.polls("t1")] == [futures.CALLER_POLL_TIMEOUT]
    second._on_block()  # within the pause: this caller leaves its poll to the pool
    assert engine.polls("t2") == []
    poller.pool.max_threads = threads
    poller.pool.kick()
    assert first.result(5).meters == 42 and second.result(5).meters == 42
    assert [p["options"].timeout for p in engine.polls("t2")] == [poller.spec.poll_timeout]


def test_bad_requests_are_retried_up_to_the_spec_limit(make_poller):
    poller, engine = make_poller(t1=[resp(400)], t2=[resp(400), resp(400), resp(200, REPORT)])
    assert isinstance(poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5), BadRequestError)
    assert len(engine.polls("t1")) == 3  # the first poll and max_retries=2 retries
    assert poller.resolve(WALK, {"ticket": "t2"}, 0.0).result(5).meters == 42


def test_server_errors_rate_limits_and_lost_connections_back_off_then_recover(make_poller):
    poller, engine = make_poller(t1=[resp(503), resp(429), APIConnectionError("reset"),
                                     resp(500), resp(200, REPORT)])
    assert poller.resolve(WALK, {"ticket": "t1"}, 0.0).result(5).meters == 42
    assert len(engine.polls("t1")) == 5


def test_the_documents_backoff_statuses_decide_what_is_polled_again(make_poller):
    table = kennel_variant("backoff_statuses: [429, 5XX]", "backoff_statuses: [429]")
    assert 503 not in table.futures.backoff_statuses
    spec = dataclasses.replace(table.futures, backoff=FAST.backoff)
    poller, engine = make_poller(spec, t1=[resp(429), resp(503), resp(200, REPORT)])
    failed = poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5)
    assert isinstance(failed, APIStatusError) and failed.status_code == 503
    assert len(engine.polls("t1")) == 2  # the 429 was polled again, the 503 was an answer


def test_backoff_grows_with_consecutive_failures_and_resets_after_an_answer():
    engine = ScriptedEngine()
    poller = FuturePoller(engine, TABLE.futures, random=lambda: 0.0)  # type: ignore[arg-type]
    poll = futures._Poll(APIFuture(), "WalkReport", {}, "application/json")
    assert [poller._backoff(poll) for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    poller._on_ok(poll, resp(200, REPORT))
    poll.failures = 0  # as after any non-failure answer
    assert poller._backoff(poll) == 0.5


def test_metadata_only_reserves_the_size_until_the_future_resolves(make_poller):
    poller, engine = make_poller(t1=[
        resp(200, {"kind": "summary", "bytes": 600}),
        lambda kw: resp(200, REPORT) if poller.budget.used == 600 else resp(418)])
    assert poller.resolve(WALK, {"ticket": "t1"}, 0.0).result(5).meters == 42
    assert [p["body"]["summary_ok"] for p in engine.polls("t1")] == [True, False]
    assert poller.budget.used == 0


def test_metadata_only_waits_for_budget_without_holding_a_thread(make_poller):
    go, after = gate()
    summary = resp(200, {"kind": "summary", "bytes": 600})
    poller, engine = make_poller(a=[summary, after(resp(200, REPORT))],
                                 b=[summary, resp(200, REPORT)], c=[resp(200, REPORT)])
    a = poller.resolve(WALK, {"ticket": "a"}, 0.0)
    wait_until(lambda: len(engine.polls("a")) == 2, what="a to hold its budget")
    b = poller.resolve(WALK, {"ticket": "b"}, 0.0)
    wait_until(lambda: poller._parked, what="b to wait for budget")
    # Two pool threads: one is in a's poll; b waits without a thread, so c still runs.
    assert poller.resolve(WALK, {"ticket": "c"}, 0.0).result(5).meters == 42
    assert not b.done()
    go.set()
    assert a.result(5) and b.result(5)
    assert poller.budget.used == 0


def test_a_second_metadata_only_answer_is_a_protocol_error(make_poller):
    poller, _ = make_poller(t1=[resp(200, {"kind": "summary", "bytes": 10})])
    assert isinstance(poller.resolve(WALK, {"ticket": "t1"}, 0.0).exception(5),
                      APIResponseValidationError)
    assert poller.budget.used == 0


def test_results_that_do_not_fit_the_model_are_validation_errors(make_poller):
    poller, _ = make_poller(t1=[resp(200, {"dog": "rex"})], t2=[resp(200, b"{nope")])
    for ticket in ("t1", "t2"):
        error = poller.resolve(WALK, {"ticket": ticket}, 0.0).exception(5)
        assert isinstance(error, APIResponseValidationError)


def test_non_json_results_go_through_the_domain_decoder(make_poller):
    decoded: list[tuple[bytes, str]] = []

    def decode(content: bytes, type_name: str) -> str:
        decoded.append((content, type_name))
        return "decoded"

    paw = resp(200, b"\x01\x02", "image/x-pawprint")
    poller, engine = make_poller(decoders={"image/x-pawprint": decode}, t1=[paw])
    assert poller.resolve(RUN, {"ticket": "t1"}, 0.0).result(5) == "decoded"
    assert decoded == [(b"\x01\x02", "WalkReport")]
    assert engine.polls("t1")[0]["accept"] == "image/x-pawprint, application/json"
    assert engine.polls("t1")[0]["headers"]["X-Job-Kind"] == "Run"
    bare, _ = make_poller(t2=[paw])
    assert isinstance(bare.resolve(RUN, {"ticket": "t2"}, 0.0).exception(5),
                      APIResponseValidationError)


# ---- stopping -------------------------------------------------------------------------------


def test_cancel_stops_polling_that_future(make_poller):
    go, after = gate()
    poller, engine = make_poller(t1=[after(resp(202))])
    future = poller.resolve(WALK, {"ticket": "t1"}, 0.0)
    wait_until(lambda: engine.polls("t1"))
    assert future.cancel()
    go.set()
    pool = poller.pool
    wait_until(lambda: not pool._heap and pool._idle == len(pool._threads),
               what="the in-flight poll to be handled")
    assert len(engine.polls("t1")) == 1


def test_result_timeout_does_not_stop_polling(make_poller):
    go, after = gate()
    poller, _ = make_poller(t1=[after(resp(200, REPORT))])
    future = poller.resolve(WALK, {"ticket": "t1"}, 0.0)
    with pytest.raises(TimeoutError):
        future.result(timeout=0.01)
    go.set()
    assert future.result(5).meters == 42


def test_close_cancels_pending_futures_and_refuses_new_ones(make_poller):
    go, after = gate()
    poller, _ = make_poller(t1=[after(resp(202))])
    future = poller.resolve(WALK, {"ticket": "t1"}, 0.0)
    go.set()
    poller.close()
    assert future.cancelled()
    with pytest.raises(RuntimeError):
        poller.resolve(WALK, {"ticket": "t1"}, 0.0)


def test_run_in_background(make_poller):
    poller, _ = make_poller()
    assert poller.run_in_background(lambda a, b: a + b, 1, 2).result(5) == 3
    assert isinstance(poller.run_in_background(lambda: 1 / 0).exception(5), ZeroDivisionError)


# ---- against a real server ------------------------------------------------------------------



@pytest.fixture
def client(server: LoopbackServer) -> Iterator[FuturePoller]:
    """A real engine for the loopback server, with a poller installed."""
    engine = kennel_engine(server.url, hooks=EngineHooks(future_resolver=futures.poller_for))
    poller = engine.future_resolver
    assert isinstance(poller, FuturePoller)
    server.route("POST", "/walks", lambda r: Reply(200, {"ticket": str(r.json()["meters"])}))
    yield poller
    server.closing.set()  # release held polls so the poller threads can finish
    poller.close()
    engine.close()


def walk(poller: FuturePoller, ticket: str) -> APIFuture[Any]:
    return poller.engine.call("start_walk", dog="rex", step=1, meters=int(ticket))  # type: ignore[no-any-return]


def by_ticket(replies: dict[str, list[Reply]]) -> Callable[[Request], Reply]:
    """A /results handler answering each ticket from its own script (last reply repeats)."""
    lock = threading.Lock()

    def handler(request: Request) -> Reply:
        with lock:
            script = replies[request.json()["ticket"]]
            return script.pop(0) if len(script) > 1 else script[0]

    return handler


def test_a_failing_retrieve_endpoint_is_never_polled_in_a_hot_loop(server, client):
    server.route("POST", "/results", lambda r: Reply(503, {"detail": "down"}))
    future = walk(client, "1")
    started = time.monotonic()
    wait_until(lambda: time.monotonic() - started >= 5.0, timeout=6)
    polls = [r for r in server.received("/results") if r.at - started <= 5.0]
    assert 2 <= len(polls) <= 15
    assert not future.done()


def test_not_ready_answers_are_polled_again_without_delay(server, client):
    server.route("POST", "/results", by_ticket({"1": [Reply(202, {"kind": "later"})] * 5
                                                + [Reply(200, REPORT)]}))
    assert walk(client, "1").result(5).meters == 42
    times = [r.at for r in server.received("/results")]
    assert len(times) == 6
    # The backoff would wait at least 0.375 s; the server's long poll is the only pacing.
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 0.2


def test_a_held_long_poll_does_not_block_other_futures(server, client):
    def handler(request: Request) -> Reply:
        if request.json()["ticket"] == "1":
            server.closing.wait(0.5)  # the server holds this poll
        return Reply(200, REPORT)

    server.route("POST", "/results", handler)
    started = time.monotonic()
    held = walk(client, "1")
    assert walk(client, "2").result(5).meters == 42
    assert not held.done()
    assert held.result(5).meters == 42
    assert time.monotonic() - started >= 0.5
    assert len(server.received("/results")) == 2


@pytest.mark.parametrize("stop", ["cancel", "close"])
def test_a_caller_blocked_on_a_held_poll_is_woken_by_cancel_or_close(server, client, stop):
    # The server holds every poll until the test ends, so only cancel() / close() can end
    # the wait. Held polls of other futures keep every poller thread busy: the caller
    # then runs its future's poll itself.
    server.route("POST", "/results", lambda r: (server.closing.wait(30), Reply(200, REPORT))[1])
    busy = [walk(client, str(n)) for n in range(2, 2 + client.pool.max_threads)]
    wait_until(lambda: len(server.received("/results")) == len(busy), what="busy poller threads")
    future = walk(client, "1")
    outcome: list[BaseException | None] = []

    def wait() -> None:
        try:
            future.result()
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        wait_until(lambda: len(server.received("/results")) > len(busy), what="the caller's poll")
        future.cancel() if stop == "cancel" else client.close()
        waiter.join(5)
        assert not waiter.is_alive(), "result() still blocked in the held poll"
        assert len(outcome) == 1 and isinstance(outcome[0], concurrent.futures.CancelledError)
    finally:
        server.closing.set()
        waiter.join(5)


def test_metadata_only_flow_over_http(server, client):
    server.route("POST", "/results", lambda r: (
        Reply(200, {"kind": "summary", "bytes": 700}) if r.json()["summary_ok"]
        else Reply(200, REPORT)))
    assert walk(client, "1").result(5).meters == 42
    assert [r.json()["summary_ok"] for r in server.received("/results")] == [True, False]
    assert client.budget is not None and client.budget.used == 0


def test_expiry_failures_and_observers_over_http(server, client):
    server.route("POST", "/results", by_ticket({
        "1": [Reply(410, {"detail": "expired"})],
        "2": [Reply(200, {"problem": "tangled", "blame": "user"})],
        "3": [Reply(202, {"queue": "stalled", "why": "nap"}), Reply(202, {"queue": "moving"}),
              Reply(200, REPORT)]}))
    states: list[tuple[str, str | None]] = []
    client.add_queue_state_observer(lambda s, r: states.append((s, r)))
    assert isinstance(walk(client, "1").exception(5), FutureExpiredError)
    failed = walk(client, "2").exception(5)
    assert isinstance(failed, RequestFailedError) and failed.category is RequestErrorCategory.USER
    assert walk(client, "3").result(5).meters == 42
    assert states == [("stalled", "nap"), ("moving", None)]


def test_cancelling_twice_is_harmless() -> None:
    future: APIFuture[int] = APIFuture()
    assert future.cancel() and future.cancel()
    assert future.cancelled()
