"""``get_checkpoint_archive_url`` against a server that answers with the redirect itself.

A stub HTTP server on 127.0.0.1 plays the pre-0.22.2 service: ``302`` with
``Location`` (and ``Expires``, or none, or garbage). The 200 JSON form is
covered against the emulator elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import tinkex
from tinkex.core.errors import APIResponseValidationError, NotFoundError

SIGNED = "https://storage.example.test/archive.tar.gz?sig=abc"
EXPIRES = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


class _Handler(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, dict[str, str]]] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        for name, (status, headers) in self.answers.items():
            if f"/checkpoints/weights/{name}/archive" in self.path:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(404)
        body = b'{"detail": "no such checkpoint"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rest() -> Iterator[tinkex.RestClient]:
    _Handler.answers = {
        "dated": (302, {"Location": SIGNED, "Expires": format_datetime(EXPIRES, usegmt=True)}),
        "undated": (302, {"Location": SIGNED}),
        "garbled": (302, {"Location": SIGNED, "Expires": "next tuesday"}),
        "nowhere": (302, {}),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = tinkex.RestClient(base_url=f"http://127.0.0.1:{server.server_address[1]}",
                               api_key="tml-redirect")
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_302_is_the_url_with_its_expiry(rest: tinkex.RestClient) -> None:
    got = rest.get_checkpoint_archive_url("run-1", "weights/dated").result()
    assert (got.url, got.expires) == (SIGNED, EXPIRES)
    by_path = rest.get_checkpoint_archive_url_from_tinker_path(
        "tinker://run-1/weights/dated").result()
    assert by_path == got


@pytest.mark.parametrize("name", ["undated", "garbled"])
def test_without_a_usable_expires_the_url_lasts_15_minutes(rest: tinkex.RestClient,
                                                           name: str) -> None:
    before = datetime.now(timezone.utc)
    got = rest.get_checkpoint_archive_url("run-1", f"weights/{name}").result()
    after = datetime.now(timezone.utc)
    assert got.url == SIGNED
    assert before + timedelta(minutes=15) <= got.expires <= after + timedelta(minutes=15)


def test_a_redirect_without_location_and_other_errors_raise(rest: tinkex.RestClient) -> None:
    with pytest.raises(APIResponseValidationError, match="Location"):
        rest.get_checkpoint_archive_url("run-1", "weights/nowhere").result()
    with pytest.raises(NotFoundError):
        rest.get_checkpoint_archive_url("run-1", "weights/missing").result()
