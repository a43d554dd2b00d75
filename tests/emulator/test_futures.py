"""retrieve_future: long polls, the try-again body, expiry and lookups."""

from __future__ import annotations

import time

from emulator_client import Client, StartEmulator, fwd_body, wait_until


def test_a_long_poll_answers_408_try_again_after_the_hold(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(poll_hold=0.3, gap_timeout=60).base_url)
    model = client.model()
    blocked = client.submit("/api/v1/forward", fwd_body(model, 2))  # seq_id 1 never comes
    started = time.monotonic()
    response = client.poll(blocked)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 408
    assert response.json() == {"type": "try_again", "request_id": blocked,
                               "queue_state": "active", "queue_state_reason": None}


def test_a_long_poll_returns_as_soon_as_the_result_is_ready(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(poll_hold=20).base_url)
    model = client.model()
    started = time.monotonic()
    out = client.result(client.submit("/api/v1/forward", fwd_body(model, 1)))
    assert "loss:sum" in out["metrics"] and time.monotonic() - started < 10


def test_finished_futures_expire_with_410(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(future_retention=0.3).base_url)
    model = client.model()
    request_id = client.submit("/api/v1/forward", fwd_body(model, 1))
    assert "metrics" in client.result(request_id)
    assert client.poll(request_id).status_code == 200  # still retrievable right after
    wait_until(lambda: client.poll(request_id).status_code == 410, "the future to expire")


def test_unknown_and_foreign_futures_are_404(client: Client) -> None:
    assert client.poll("req-nope").status_code == 404
    model = client.model()
    request_id = client.submit("/api/v1/forward", fwd_body(model, 1))
    assert Client(client.base_url, "tml-someone-else").poll(request_id).status_code == 404
    assert client.ok("POST", "/api/v1/cancel_future", {"request_id": request_id}) == {}
