"""A script that forgets ``close()`` exits promptly, even with a poll in flight.

The stub server answers everything at once except the poll for the script's
forward-backward pass, which it holds until the test ends: the script's poller
thread is blocked on a socket read when the interpreter exits. The exit hook
must not wait ``CLOSE_TIMEOUT`` for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stub_server import Answer, StubServer, json_answer

MODEL = "s1:train:0"
SCRIPT = '''
import sys, threading, time
import tinkex
from tinkex import types
client = tinkex.ServiceClient(base_url=sys.argv[1], api_key="tml-exit-test")
training = client.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
if sys.argv[2] == "poll":
    future = training.forward_backward([types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]})],
        "cross_entropy")
    sys.stdin.readline()  # the test saw the poll arrive
print("exiting", flush=True)
'''


class HeldPolls:
    """A healthy stub API whose poll for ``req-held`` waits until :meth:`release`."""

    def __init__(self) -> None:
        self.held = threading.Event()  # a poll is being held
        self._release = threading.Event()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        answers = {
            "/api/v1/create_session": {"session_id": "s1", "type": "create_session"},
            "/api/v1/create_model": {"request_id": "req-model", "model_id": MODEL},
            "/api/v1/forward_backward": {"request_id": "req-held", "model_id": MODEL},
        }
        if path == "/api/v1/retrieve_future":
            if b"req-held" in body:
                self.held.set()
                self._release.wait(60)
                return json_answer(408, {"type": "try_again"})
            return json_answer(200, {"model_id": MODEL, "type": "create_model"})
        return json_answer(200, answers.get(path, {}))

    def release(self) -> None:
        self._release.set()


@pytest.fixture
def held() -> Iterator[tuple[HeldPolls, str]]:
    polls = HeldPolls()
    with StubServer(polls.answer) as server:
        try:
            yield polls, server.url
        finally:
            polls.release()


def _exit_time(tmp_path: Path, url: str, mode: str, polls: HeldPolls | None) -> float:
    script = tmp_path / "forgets_close.py"
    script.write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), url, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdin is not None and proc.stdout is not None
    if polls is not None:
        assert polls.held.wait(60), "the poll never reached the server"
        proc.stdin.write("go\n")
        proc.stdin.flush()
    line = proc.stdout.readline()
    said_exiting = time.monotonic()
    proc.wait(timeout=30)
    took = time.monotonic() - said_exiting
    _, err = proc.communicate()
    assert line.strip() == "exiting" and proc.returncode == 0, err
    return took


def test_exit_within_half_a_second_with_a_poll_in_flight(held: tuple[HeldPolls, str],
                                                         tmp_path: Path) -> None:
    polls, url = held
    idle = _exit_time(tmp_path, url, "idle", None)
    busy = _exit_time(tmp_path, url, "poll", polls)
    # The interpreter's own teardown is the same in both runs: compare with it, so a
    # loaded machine does not fail the test, while a 2 s wait for the poller would.
    assert busy < 0.5 + idle, f"exit took {busy:.2f} s with a poll in flight ({idle:.2f} s idle)"
