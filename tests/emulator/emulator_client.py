"""An HTTP client for emulator tests and request bodies in the SDK's wire format.

Futures are resolved by polling ``retrieve_future`` with a deadline, never by sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from tinkex.emulator import Emulator

#: The ``start_emulator`` fixture: settings in, running emulator out.
StartEmulator = Callable[..., Emulator]

BOS = 256
TEXT = [BOS, *b"the cat sat on the mat"]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (every 20 ms) until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Client:
    """Raw HTTP access to an emulator as one API key (one tenant)."""

    def __init__(self, base_url: str, key: str = "tml-test-key"):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=30, **kwargs)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self.base_url + path, json=body, timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def submit(self, path: str, body: Any) -> str:
        return str(self.ok("POST", path, body)["request_id"])

    def poll(self, request_id: str) -> requests.Response:
        return self.post("/api/v1/retrieve_future", {"request_id": request_id})

    def result(self, request_id: str, timeout: float = 30.0) -> Any:
        """Poll until the future is resolved; returns the 200 body (result or failure)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.poll(request_id)
            if response.status_code != 408:
                assert response.status_code == 200, response.text
                return response.json()
        raise AssertionError(f"future {request_id} not resolved within {timeout}s")

    def run(self, path: str, body: Any) -> Any:
        out = self.result(self.submit(path, body))
        assert "error" not in out, out
        return out

    # -- common flows -----------------------------------------------------------------

    def session_id(self) -> str:
        return str(self.ok("POST", "/api/v1/create_session", {"sdk_version": "0.24.1"})
                   ["session_id"])

    def model(self, session_id: str | None = None, seq: int = 0,
              base_model: str = "tinkex/micro-lm", rank: int = 4) -> str:
        session_id = session_id or self.session_id()
        out = self.run("/api/v1/create_model", {
            "session_id": session_id, "model_seq_id": seq, "base_model": base_model,
            "lora_config": {"rank": rank}})
        return str(out["model_id"])


def datum(tokens: list[int] = TEXT) -> dict[str, Any]:
    """A cross-entropy datum in SDK 0.24 form (chunk type and dtypes present)."""
    n = len(tokens) - 1
    return {"model_input": {"chunks": [{"type": "encoded_text", "tokens": tokens[:-1]}]},
            "loss_fn_inputs": {"target_tokens": {"data": tokens[1:], "dtype": "int64",
                                                 "shape": [n]},
                               "weights": {"data": [1.0] * n, "dtype": "float32", "shape": [n]}}}


def fb_body(model_id: str, seq_id: int, data: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"model_id": model_id, "seq_id": seq_id,
            "forward_backward_input": {"data": data or [datum()], "loss_fn": "cross_entropy"}}


def fwd_body(model_id: str, seq_id: int) -> dict[str, Any]:
    return {"model_id": model_id, "seq_id": seq_id,
            "forward_input": {"data": [datum()], "loss_fn": "cross_entropy"}}


def optim_body(model_id: str, seq_id: int, lr: float = 0.05) -> dict[str, Any]:
    return {"model_id": model_id, "seq_id": seq_id, "adam_params": {"learning_rate": lr}}
