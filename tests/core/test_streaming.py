"""Streaming responses: SSE and NDJSON decoded incrementally, retries before the first byte,
clean close on early exit, ``with_streaming_response`` (petstore, loopback server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from tinkex.core.api import build_api
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine
from tinkex.core.errors import (
    APIConnectionError,
    APIResponseValidationError,
    InternalServerError,
    StreamError,
)
from tinkex.core.ratelimit import RateLimiterRegistry
from tinkex.core.raw import RawResponse
from tinkex.core.streaming import SSEDecoder, Stream, StreamedRawResponse, iter_lines

from .conftest import CANARY
from .loopback import DROP, Reply, wait_until

SSE = "text/event-stream"


def sse(kind: str, pet_id: int, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps({'kind': kind, 'pet_id': pet_id})}\n\n".encode()


@pytest.fixture
def engine(server, pet_table, pet_models) -> Iterator[Engine]:
    cfg = ClientConfig.resolve(pet_table, api_key=CANARY, base_url=server.url, environ={})
    engine = Engine(pet_table, cfg, models_module=pet_models, rate_limiters=RateLimiterRegistry(),
                    sleep=lambda seconds: None)  # retries need no real wait here
    yield engine
    engine.close()


@pytest.fixture
def api(engine):
    return build_api(engine.table)(engine)


# ---- decoding ---------------------------------------------------------------------------


def test_sse_follows_the_standard():
    body = (b": a comment\r\nevent: adopted\r\ndata: line one\r\ndata: line two\r\nid: 7\r\n"
            b"retry: 1500\r\n\r\ndata: second\n\nevent: empty\n\ndata:no space\rdata:  two spaces"
            b"\r\r" b"data: unterminated")
    expected = [("adopted", "line one\nline two", "7", 1500), ("message", "second", "7", 1500),
                ("message", "no space\n two spaces", "7", 1500),
                ("message", "unterminated", "7", 1500)]
    whole = [(e.event, e.data, e.id, e.retry) for e in SSEDecoder().events([body])]
    assert whole == expected
    # split at every byte: the same events (a \r\n across chunks is one line ending)
    bytewise = [(e.event, e.data, e.id, e.retry)
                for e in SSEDecoder().events(body[i:i + 1] for i in range(len(body)))]
    assert bytewise == expected


def test_lines_split_across_chunks():
    assert list(iter_lines([b"a\r", b"\nb", b"c\n", b"\n", b"d"])) == [b"a", b"bc", b"", b"d"]
    assert list(iter_lines([b"x\r", b"\r", b"y"])) == [b"x", b"", b"y"]


# ---- streaming operations over real HTTP ------------------------------------------------


def test_events_arrive_one_by_one_before_the_stream_ends(server, api, pet_models):
    second_may_go = threading.Event()

    def body() -> Iterator[bytes]:
        yield sse("adopted", 1)
        assert second_may_go.wait(5), "the client never read the first event"
        yield sse("groomed", 1)

    server.route("GET", "/pets/events", lambda r: Reply(200, stream=body(), content_type=SSE))
    stream = api.pets.watch(since=3)
    assert isinstance(stream, Stream)
    first = next(stream)  # read while the server still holds the second one back
    assert isinstance(first, pet_models.PetEvent) and first.kind == "adopted"
    second_may_go.set()
    assert [e.kind for e in stream] == ["groomed"]
    assert stream.closed and stream.response.status == 200
    assert server.received("/pets/events")[0].headers["x-pet-token"] == CANARY


def test_a_failed_attempt_before_the_first_byte_is_retried(server, api):
    server.script("GET", "/pets/events", [Reply(503, {"detail": "warming up"}),
                                          Reply(200, stream=[sse("adopted", 2)], content_type=SSE)])
    stream = api.pets.watch()
    assert [e.pet_id for e in stream] == [2] and stream.attempts == 2
    server.script("GET", "/pets/events", [Reply(500, {"detail": "down"})])
    with pytest.raises(InternalServerError, match="down"):
        api.pets.watch()


def test_leaving_early_closes_the_connection(server, api, engine):
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for i in range(10_000):
            sent.append(i)
            yield sse("adopted", i)

    server.route("GET", "/pets/events", lambda r: Reply(200, stream=endless(), content_type=SSE))
    with api.pets.watch() as stream:
        assert next(stream).pet_id == 0
    assert stream.closed
    for event in api.pets.watch():  # break: dropping the stream closes it too
        if event.pet_id == 1:
            break
    # the server notices: its writes fail long before it would have sent everything
    wait_until(lambda: len(server._httpd.connections) == 0, what="connections dropped")
    assert len(sent) < 10_000
    server.route("GET", "/pets/export", lambda r: Reply(200, stream=[b'{"id": 1, "name": "a", '
                                                                     b'"species": "cat"}\n'],
                                                        content_type="application/x-ndjson"))
    assert [p.id for p in api.pets.export()] == [1]  # the pool still works


def test_ndjson_streams_typed_objects(server, api, pet_models):
    lines = [json.dumps({"id": i, "name": f"p{i}", "species": "dog"}).encode() + b"\n"
             for i in range(3)]
    server.route("GET", "/pets/export", lambda r: Reply(200, stream=[lines[0][:5], lines[0][5:],
                                                                     b"\n", *lines[1:]],
                                                        content_type="application/x-ndjson"))
    pets = list(api.pets.export())
    assert [p.name for p in pets] == ["p0", "p1", "p2"]
    assert all(isinstance(p, pet_models.Pet) for p in pets)


def test_an_error_event_a_bad_event_and_a_broken_stream_raise_tinkex_errors(server, api):
    server.route("GET", "/pets/events", lambda r: Reply(200, content_type=SSE, stream=[
        sse("adopted", 1), b'event: error\ndata: {"detail": "the kennel caught fire"}\n\n']))
    stream = api.pets.watch()
    assert next(stream).pet_id == 1
    with pytest.raises(StreamError, match="the kennel caught fire") as info:
        next(stream)
    assert info.value.body == {"detail": "the kennel caught fire"} and stream.closed

    server.route("GET", "/pets/events", lambda r: Reply(200, content_type=SSE, stream=[
        b'data: {"kind": "escaped", "pet_id": 1}\n\n']))
    with pytest.raises(APIResponseValidationError, match="an event is not a valid PetEvent"):
        list(api.pets.watch())

    server.route("GET", "/pets/events", lambda r: Reply(200, content_type=SSE, stream=[
        sse("adopted", 1), DROP]))
    stream = api.pets.watch()
    assert next(stream).pet_id == 1
    with pytest.raises(APIConnectionError, match="the stream broke"):
        next(stream)


# ---- the response views -----------------------------------------------------------------


def test_with_streaming_response_gives_headers_before_the_body(server, api, pet_models):
    body_may_go = threading.Event()

    def body() -> Iterator[bytes]:
        assert body_may_go.wait(5)
        yield json.dumps({"id": 5, "name": "Rex", "species": "dog"}).encode()

    server.route("GET", "/pets/5", lambda r: Reply(200, stream=body(), headers={"X-Req": "r1"}))
    with api.pets.with_streaming_response.get(pet_id=5) as response:
        assert isinstance(response, StreamedRawResponse)
        assert response.status_code == 200 and response.headers["x-req"] == "r1"
        assert response.attempts == 1 and not response.is_closed
        body_may_go.set()
        pet = response.parse()
    assert isinstance(pet, pet_models.Pet) and pet.id == 5 and response.is_closed

    server.route("GET", "/pets/events", lambda r: Reply(200, content_type=SSE, stream=[
        sse("adopted", 1), sse("groomed", 2)]))
    with api.with_streaming_response.pets.watch() as response:
        assert [line for line in response.iter_lines()][:2] == [
            'data: {"kind": "adopted", "pet_id": 1}', ""]
    with api.pets.with_streaming_response.watch() as response:
        assert [e.kind for e in response.parse()] == ["adopted", "groomed"]


def test_with_raw_response_of_a_streaming_operation_reads_it_whole(server, api):
    server.route("GET", "/pets/events", lambda r: Reply(200, content_type=SSE, stream=[
        sse("adopted", 1), sse("groomed", 2)]))
    raw = api.pets.with_raw_response.watch()
    assert isinstance(raw, RawResponse) and raw.content.count(b"data:") == 2
    assert [e.pet_id for e in raw.parse()] == [1, 2]
