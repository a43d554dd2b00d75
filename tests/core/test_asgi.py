"""The in-process transport: requests reach an ASGI application as a server would pass them."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from tinkex.core.asgi import ASGITransport
from tinkex.core.errors import APIConnectionError, APITimeoutError, ClientClosedError
from tinkex.core.transport import StreamedResponse, Timeout

TIMEOUT = Timeout(5.0, 5.0)
URL = "http://pets.test/pets/1"


async def echo(scope, receive, send):
    """Answers with what it got: method, path, query, headers, body."""
    message = await receive()
    if scope["path"] == "/slow":
        await asyncio.sleep(30)
    if scope["path"] == "/boom":
        raise RuntimeError("the handler failed")
    if scope["path"] == "/silent":
        return
    body = json.dumps({"method": scope["method"], "path": scope["path"],
                       "query": scope["query_string"].decode(),
                       "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                       "body": message["body"].decode()}).encode()
    status = 404 if scope["path"] == "/missing" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"x-answer", b"yes")]})
    await send({"type": "http.response.body", "body": body[:5], "more_body": True})
    await send({"type": "http.response.body", "body": body[5:]})


@pytest.fixture
def transport():
    t = ASGITransport(echo)
    yield t
    t.close()


def _send(transport, url=URL, method="POST", **kwargs):
    args = {"headers": {"X-Key": "k", "X-None": None}, "params": [("a", "1"), ("a", "2")],
            "content": b'{"x": 1}', "timeout": TIMEOUT, **kwargs}
    return transport.request("main", method, url, **args)


def test_a_request_reaches_the_application_as_sent(transport):
    response = _send(transport)
    assert response.status == 200 and response.headers["X-Answer"] == "yes"
    got = response.json()
    assert got["method"] == "POST" and got["path"] == "/pets/1" and got["query"] == "a=1&a=2"
    assert got["headers"]["x-key"] == "k" and "x-none" not in got["headers"]
    assert got["headers"]["host"] == "pets.test" and got["headers"]["content-length"] == "8"
    assert got["body"] == '{"x": 1}'
    assert response.url == URL and response.method == "POST"


def test_statuses_come_back_as_they_are_and_open_streams_a_2xx(transport):
    assert _send(transport, "http://pets.test/missing").status == 404
    opened = transport.open("main", "GET", URL, headers={}, params=None, content=None,
                            timeout=TIMEOUT)
    assert isinstance(opened, StreamedResponse) and opened.status == 200
    assert json.loads(b"".join(opened.iter_bytes(3)))["method"] == "GET"
    assert opened.closed


def test_failures_are_tinkex_errors(transport):
    with pytest.raises(APIConnectionError, match="the handler failed"):
        _send(transport, "http://pets.test/boom")
    with pytest.raises(APIConnectionError, match="without an answer"):
        _send(transport, "http://pets.test/silent")
    with pytest.raises(APITimeoutError):
        _send(transport, "http://pets.test/slow", timeout=Timeout(0.05, 0.05))


def test_close_joins_the_loop_thread_and_refuses_later_requests():
    transport = ASGITransport(echo)
    _send(transport)
    assert any(t.name == "tinkex-asgi-transport" for t in threading.enumerate())
    transport.close()
    assert not any(t.name == "tinkex-asgi-transport" for t in threading.enumerate())
    with pytest.raises(ClientClosedError):
        _send(transport)
    transport.close()  # a second close does nothing
