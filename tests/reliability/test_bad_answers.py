"""A malformed answer or a bad argument is a tinkex exception naming what is wrong.

The stub server plays a healthy Tinker API except for one operation, whose 2xx
answer is broken (not JSON, an empty object, a list, null, wrong types). Every
case must raise a ``tinkex`` exception (never ``json``, ``KeyError`` or
``TypeError``) that names the operation.
"""

from __future__ import annotations

from typing import Any

import pytest
from stub_server import Answer, StubServer, json_answer

import tinkex
from tinkex import types

MODEL = "s1:train:0"
HEALTHY: dict[str, Any] = {
    "/api/v1/create_session": {"session_id": "s1", "type": "create_session"},
    "/api/v1/client/config": {},
    "/api/v1/session_heartbeat": {},
    "/api/v1/create_model": {"request_id": "req-1", "model_id": MODEL},
    "/api/v1/create_sampling_session": {"sampling_session_id": "s1:sample:0"},
    "/api/v1/asample": {"request_id": "req-3"},
    "/api/v1/retrieve_future": {"model_id": MODEL, "type": "create_model"},
}
BROKEN: dict[str, Answer] = {
    "not JSON": (200, {"Content-Type": "application/json"}, b"<html>oops</html>"),
    "HTML": (200, {"Content-Type": "text/html"}, b"<html>oops</html>"),
    "empty object": json_answer(200, {}),
    "list": json_answer(200, [1, 2]),
    "null": json_answer(200, None),
    "wrong types": json_answer(200, {"request_id": 5, "session_id": 7, "model_id": [1],
                                     "sampling_session_id": {}}),
}
OPERATIONS = {
    "create_session": "/api/v1/create_session",
    "create_model": "/api/v1/create_model",
    "retrieve_future": "/api/v1/retrieve_future",
    "create_sampling_session": "/api/v1/create_sampling_session",
    "asample": "/api/v1/asample",
}


def _run(client: tinkex.ServiceClient, operation: str) -> None:
    if operation in ("create_sampling_session", "asample"):
        sampler = client.create_sampling_client(base_model="tinkex/micro-lm")
        sampler.sample(types.ModelInput.from_ints([1, 2]), 1,
                       types.SamplingParams(max_tokens=2)).result(timeout=30)
    else:
        client.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_broken_answer_is_a_tinkex_error_naming_the_operation(operation: str,
                                                                broken: str) -> None:
    target = OPERATIONS[operation]

    def answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == target:
            return BROKEN[broken]
        if path in HEALTHY:
            return json_answer(200, HEALTHY[path])
        return json_answer(404, {"detail": f"{path} is not served here"})

    with StubServer(answer) as server:
        client = tinkex.ServiceClient(base_url=server.url, api_key="tml-bad-answers")
        try:
            with pytest.raises(tinkex.APIResponseValidationError) as info:
                _run(client, operation)
        finally:
            client.close()
    assert operation in str(info.value)


@pytest.mark.parametrize(("base_url", "says"), [
    ("http://[::1", "not a valid URL"),
    ("http://host:port", "not a valid URL"),
    ("http://", "has no host"),
    ("ftp://example.com", "must start with http"),
])
def test_a_bad_base_url_is_a_config_error(base_url: str, says: str) -> None:
    with pytest.raises(tinkex.TinkerError) as info:
        tinkex.ServiceClient(base_url=base_url, api_key="tml-bad-url")
    assert says in str(info.value) and type(info.value).__module__.startswith("tinkex")
