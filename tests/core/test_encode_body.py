"""``Engine.call(..., encode_body=...)``: a body sent in another encoding, numbered and in turn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tinkex.core import sequencing
from tinkex.core.engine import EncodedBody, Engine, EngineHooks
from tinkex.core.options import RequestOptions

from .loopback import LoopbackServer, Reply, Request, kennel_engine

MEDIA = "application/x-kennel"


@pytest.fixture
def engine(server: LoopbackServer) -> Iterator[Engine]:
    engine = kennel_engine(server.url, hooks=EngineHooks(sequencer=sequencing.sequencer_for))
    yield engine
    engine.close()


def tagged(body: dict[str, Any]) -> EncodedBody:
    """A toy binary encoding: ``dog:step`` in ASCII, with a header saying it is packed."""
    return EncodedBody(f"{body['dog']}:{body['step']}".encode(), MEDIA, {"X-Packing": "colon"})


def test_the_encoded_bytes_are_sent_with_their_media_type_and_headers(server, engine):
    seen: list[Request] = []

    def walk(request: Request) -> Reply:
        seen.append(request)
        return Reply(200, {"ticket": "t"})

    server.route("POST", "/walks", walk)
    assert engine.call("start_walk", RequestOptions(encode_body=tagged), dog="rex").ticket == "t"
    assert engine.call("start_walk", dog="rex").ticket == "t"  # JSON again, numbered on
    binary, plain = seen
    assert binary.body == b"rex:1"
    assert binary.headers["content-type"] == MEDIA and binary.headers["x-packing"] == "colon"
    assert plain.json() == {"dog": "rex", "step": 2}
    assert plain.headers["content-type"] == "application/json" and "x-packing" not in plain.headers


def test_the_encoder_gets_validated_values_not_json(server, engine):
    got: dict[str, Any] = {}

    def keep(body: dict[str, Any]) -> EncodedBody:
        got.update(body)
        return tagged(body)

    server.route("POST", "/walks", lambda r: Reply(200, {"ticket": "t"}))
    engine.call("start_walk", RequestOptions(encode_body=keep), dog="rex", meters=None)
    assert got == {"dog": "rex", "step": 1}  # numbered by the sequencer, None left out


def test_encoding_happens_after_numbering_inside_the_turn(server, engine):
    """An ordered call encodes only once the previous number has returned."""
    first_arrived, release_first = threading.Event(), threading.Event()
    encoded_steps: list[int] = []

    def walk(request: Request) -> Reply:
        if request.headers["content-type"] == "application/json":  # the first, plain call
            first_arrived.set()
            release_first.wait(5)
        return Reply(200, {"ticket": "t"})

    def encode(body: dict[str, Any]) -> EncodedBody:
        encoded_steps.append(body["step"])
        return tagged(body)

    server.route("POST", "/walks", walk)
    first = threading.Thread(target=engine.call, args=("start_walk",), kwargs={"dog": "rex"})
    first.start()
    assert first_arrived.wait(5)
    second = threading.Thread(target=engine.call,
                              args=("start_walk", RequestOptions(encode_body=encode)),
                              kwargs={"dog": "rex"})
    second.start()
    second.join(0.1)
    assert encoded_steps == []  # waiting for its turn
    release_first.set()
    first.join(5)
    second.join(5)
    assert encoded_steps == [2]
    assert [r.body for r in server.requests][1:] == [b"rex:2"]


def test_a_block_claim_numbers_the_encoded_body(server, engine):
    server.route("POST", "/walks", lambda r: Reply(200, {"ticket": "t"}))
    sequencer = engine.sequencer
    assert isinstance(sequencer, sequencing.Sequencer)
    with sequencer.reserve("start_walk", "rex", 2) as block:
        for number in reversed(block.numbers):  # chunks may go out in any order
            with block.claim(number):
                engine.call("start_walk", RequestOptions(encode_body=tagged), dog="rex")
    assert [r.body for r in server.requests] == [b"rex:2", b"rex:1"]
