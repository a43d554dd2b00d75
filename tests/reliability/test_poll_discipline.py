"""Poll discipline: a future whose poll keeps failing is never polled in a hot loop.

The stub server answers everything at once; the polls for one future get a fault
of one kind every time: 503, a dropped connection, or an instant 408 ("not ready",
without holding the poll). The client may poll at most 15 times in 5 seconds
(``make reliability``; ``make test`` runs a 2 s window with the same rate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from stub_server import Answer, StubServer, json_answer

import tinkex
from tinkex import types

MODEL = "s1:train:0"
FAULTS: dict[str, Answer] = {
    "503": json_answer(503, {"detail": "overloaded"}),
    "dropped connection": None,
    "instant 408": json_answer(408, {"type": "try_again", "queue_state": "active"}),
}


class FaultyPolls:
    def __init__(self, fault: Answer) -> None:
        self.fault = fault
        self.polls: list[float] = []  # arrival times of the faulty future's polls
        self._lock = threading.Lock()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        answers = {
            "/api/v1/create_session": {"session_id": "s1", "type": "create_session"},
            "/api/v1/create_model": {"request_id": "req-model", "model_id": MODEL},
            "/api/v1/forward_backward": {"request_id": "req-faulty", "model_id": MODEL},
        }
        if path == "/api/v1/retrieve_future":
            if b"req-faulty" in body:
                with self._lock:
                    self.polls.append(time.monotonic())
                return self.fault
            return json_answer(200, {"model_id": MODEL, "type": "create_model"})
        return json_answer(200, answers.get(path, {}))


def _polls_in(fault: str, window: float) -> int:
    polls = FaultyPolls(FAULTS[fault])
    with StubServer(polls.answer) as server:
        client = tinkex.ServiceClient(base_url=server.url, api_key="tml-polls")
        try:
            training = client.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
            training.forward_backward([types.Datum(
                model_input=types.ModelInput.from_ints([1, 2, 3]),
                loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]})],
                "cross_entropy")
            deadline = time.monotonic() + 30
            while not polls.polls and time.monotonic() < deadline:
                time.sleep(0.01)
            assert polls.polls, "the future was never polled"
            # A measurement window, not a synchronisation: count what arrives in it.
            time.sleep(max(0.0, polls.polls[0] + window - time.monotonic()) + 0.2)
        finally:
            client.close()
    start = polls.polls[0]
    return sum(1 for t in polls.polls if t - start < window)


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_polls_in_two_seconds(fault: str) -> None:
    count = _polls_in(fault, 2.0)
    assert 2 <= count <= 7, f"{fault}: {count} polls in 2 s"


@pytest.mark.reliability
def test_at_most_15_polls_in_five_seconds(fault: str) -> None:
    count = _polls_in(fault, 5.0)
    print(f"{fault}: {count} polls in 5 s")
    assert 2 <= count <= 15, f"{fault}: {count} polls in 5 s"
