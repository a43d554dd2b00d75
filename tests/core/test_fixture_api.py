"""The petstore API end to end: generated models, runtime-built API, engine and a real
loopback HTTP server (stdlib, keep-alive, TCP_NODELAY) in a thread."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tinkex.core.api import build_api
from tinkex.core.errors import APIConnectionError, APIStatusError, APITimeoutError, NotFoundError

from .conftest import CANARY


class PetState:
    """What the fake server knows; tests steer it (fail_next) and read it (seen)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pets: dict[int, dict[str, Any]] = {}
        self.fail_next = 0
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.release_poll = threading.Event()
        self.abandoned = 0  # connections the client left open until the server gave up
        self.polls = 0


class PetHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    timeout = 2  # a connection nobody closes cannot hold a server thread for ever
    state: PetState

    def log_error(self, format: str, *args: Any) -> None:
        if "timed out" in format:
            with self.state.lock:
                self.state.abandoned += 1

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else None
        state = self.state
        with state.lock:
            state.seen.append((self.command, url.path, dict(self.headers)))
            if self.headers.get("X-Pet-Token") != CANARY:
                return self._reply(401, {"detail": "who are you?"})
            if state.fail_next:
                state.fail_next -= 1
                return self._reply(503, {"detail": "busy"})
        route = (self.command, url.path)
        if route == ("POST", "/jobs/poll") and body["job_id"].startswith("groom-"):
            with state.lock:  # pending on the first poll, done on the next
                state.polls += 1
                if state.polls == 1:
                    return self._reply(202, {"state": "pending"})
            return self._reply(200, {"pet_id": int(body["job_id"][6:]), "minutes": 12.5})
        if route == ("POST", "/jobs/poll"):
            state.release_poll.wait(5)
            return self._reply(200)
        with state.lock:
            if route == ("POST", "/pets"):
                pet = {"id": len(state.pets) + 1, **body}
                state.pets[pet["id"]] = pet
                return self._reply(200, pet)
            if route == ("GET", "/pets"):
                query = parse_qs(url.query)
                offset, limit = int(query["offset"][0]), int(query["limit"][0])
                pets = list(state.pets.values())
                return self._reply(200, {"pets": pets[offset:offset + limit], "page": {
                    "offset": offset, "limit": limit, "total_count": len(pets)}})
            if self.command == "GET" and url.path.startswith("/pets/"):
                pet_id = int(url.path.rsplit("/", 1)[1])
                if pet_id not in state.pets:
                    return self._reply(404, {"detail": f"no pet {pet_id}"})
                return self._reply(200, state.pets[pet_id])
            if route == ("POST", "/groom"):
                return self._reply(200, {"job_id": f"groom-{body['pet_id']}"})
        return self._reply(404, {"detail": "no route"})

    do_GET = do_POST = _handle


class JoiningServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every connection thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up early (the timeout test) is not a server failure


@pytest.fixture
def server() -> Iterator[tuple[PetState, str]]:
    before = set(threading.enumerate())
    state = PetState()
    handler = type("Handler", (PetHandler,), {"state": state})
    httpd = JoiningServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    state.release_poll.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)
    leftover = [t for t in threading.enumerate() if t not in before]
    assert not leftover, leftover
    assert state.abandoned == 0, "the client left connections open after close()"


@pytest.fixture
def pets(server, make_engine) -> tuple[Any, PetState]:
    """The petstore API on the loopback server; its engine is closed before the server stops."""
    state, url = server
    engine = make_engine(base_url=url)
    return build_api(engine.table)(engine), state


def test_create_get_list_and_iterate(pets, pet_models):
    api, state = pets
    created = [api.pets.create(name=f"pet{i}", species="cat") for i in range(5)]
    assert [p.id for p in created] == [1, 2, 3, 4, 5]
    assert api.pets.get(pet_id=3) == pet_models.Pet(id=3, name="pet2", species="cat")
    page = api.pets.list()
    assert [p.id for p in page.pets] == [1, 2] and page.page.total_count == 5
    assert [p.name for p in api.pets.iter_list()] == [f"pet{i}" for i in range(5)]
    assert [p.id for p in api.pets.iter_list(offset=3, limit=1)] == [4, 5]
    method, path, headers = state.seen[0]
    assert (method, path) == ("POST", "/pets")
    assert headers["User-Agent"] == "petstore-client/0" and headers["Accept"] == "application/json"


def test_a_503_is_retried_with_the_same_idempotency_key(pets, clock):
    api, state = pets
    state.fail_next = 2
    assert api.pets.create(name="Rex", species="dog").id == 1
    posts = [h for m, _, h in state.seen if m == "POST"]
    assert [h["X-Retry-Count"] for h in posts] == ["0", "1", "2"]
    assert len({h["Idempotency-Key"] for h in posts}) == 1
    assert clock.sleeps == pytest.approx([0.01, 0.02])


def test_errors_are_mapped(server, make_engine):
    state, url = server
    engine = make_engine(base_url=url)
    api = build_api(engine.table)(engine)
    with pytest.raises(NotFoundError, match=r"get_pet: GET /pets/9 -> HTTP 404: no pet 9"):
        api.pets.get(pet_id=9)
    wrong = make_engine(base_url=url, api_key="pet-wrong")
    with pytest.raises(APIStatusError) as info:
        build_api(wrong.table)(wrong).pets.get(pet_id=1)
    assert type(info.value) is APIStatusError and info.value.status_code == 401


def test_a_future_operation_without_resolver_returns_the_handle(pets, pet_models):
    api, _ = pets
    assert api.pets.groom(pet_id=4) == pet_models.JobHandle(job_id="groom-4")


def test_a_future_operation_resolves_through_the_poller(server, make_engine, pet_models):
    """The generic core resolves the petstore's future (not-ready = 202 pending) end to end."""
    from tinkex.core import futures
    from tinkex.core.engine import EngineHooks

    state, url = server
    engine = make_engine(base_url=url, hooks=EngineHooks(future_resolver=futures.poller_for))
    api = build_api(engine.table)(engine)
    poller = engine.future_resolver
    assert isinstance(poller, futures.FuturePoller)
    try:
        future = api.pets.groom(pet_id=4)
        assert future.result(timeout=10) == pet_models.GroomResult(pet_id=4, minutes=12.5)
        assert future.request_id == "groom-4" and state.polls == 2
    finally:
        poller.close()


def test_a_slow_answer_times_out(pets):
    api, state = pets
    with pytest.raises(APITimeoutError):
        api.jobs.poll(job_id="j", timeout=(1, 0.2))
    state.release_poll.set()
    assert api.jobs.poll(job_id="j") is None


def test_a_refused_connection_is_wrapped(make_engine):
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(APIConnectionError) as info:
        engine.call("get_job", job_id="j")
    assert "ConnectionError" in str(info.value)


def test_threads_share_one_engine(pets):
    api, state = pets
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(10):
                api.pets.create(name=f"t{i}", species="parrot")
        except BaseException as exc:  # reported below; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(state.pets) == list(range(1, 41))
