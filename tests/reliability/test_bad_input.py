"""The bad-input table: every bad request is refused at once, naming what is wrong.

Emulator cases go over raw HTTP (what any client could send); each must be a
4xx within a second whose detail names the field, and the emulator must keep
serving. Client cases go through tinkex: a bad argument is a ``ValueError``
(pydantic's included) naming the parameter, raised before anything is sent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "emulator"))
from emulator_client import Client  # noqa: E402

import tinkex  # noqa: E402
from tinkex import types  # noqa: E402
from tinkex.emulator import Emulator, EmulatorConfig  # noqa: E402

MICRO = "tinkex/micro-lm"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    config = EmulatorConfig(data_dir=tmp_path_factory.mktemp("bad-input"), poll_hold=2.0,
                            max_body_bytes=8 * 2**20)
    with Emulator(config) as running:
        yield running


@pytest.fixture(scope="module")
def ids(emulator: Emulator) -> dict[str, str]:
    client = Client(emulator.base_url)
    session = client.session_id()
    sampler = client.ok("POST", "/api/v1/create_sampling_session", {
        "session_id": session, "sampling_session_seq_id": 0, "base_model": MICRO})
    return {"session": session, "model": client.model(session),
            "sampler": sampler["sampling_session_id"]}


def _sample(ids: dict[str, str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sampling_session_id": ids["sampler"], "seq_id": 0,
                            "prompt": {"chunks": [{"tokens": [1, 2]}]},
                            "sampling_params": {"max_tokens": 2}}
    params = changes.pop("sampling_params", {})
    body["sampling_params"].update(params)
    return {**body, **changes}


def _model(ids: dict[str, str], rank: Any) -> dict[str, Any]:
    return {"session_id": ids["session"], "model_seq_id": 99, "base_model": MICRO,
            "lora_config": {"rank": rank}}


def _fb(ids: dict[str, str], data: list[Any]) -> dict[str, Any]:
    return {"model_id": ids["model"], "seq_id": 1,
            "forward_backward_input": {"data": data, "loss_fn": "cross_entropy"}}


def _optim(ids: dict[str, str], **adam: Any) -> dict[str, Any]:
    return {"model_id": ids["model"], "seq_id": 1, "adam_params": adam}


# (name, method, path or path builder, body builder, expected status, words the detail names)
Case = tuple[str, str, str, Callable[[dict[str, str]], Any], int, str]
EMULATOR_CASES: list[Case] = [
    ("LoRA rank 10^6", "POST", "/api/v1/create_model", lambda i: _model(i, 10**6), 422, "rank"),
    ("LoRA rank 10^5", "POST", "/api/v1/create_model", lambda i: _model(i, 10**5), 422, "rank"),
    ("LoRA rank 0", "POST", "/api/v1/create_model", lambda i: _model(i, 0), 422, "rank"),
    ("LoRA rank a string", "POST", "/api/v1/create_model", lambda i: _model(i, "x"), 422, "rank"),
    ("learning rate 1e308", "POST", "/api/v1/optim_step",
     lambda i: _optim(i, learning_rate=1e308), 422, "learning_rate"),
    ("negative learning rate", "POST", "/api/v1/optim_step",
     lambda i: _optim(i, learning_rate=-1), 422, "learning_rate"),
    ("beta1 = 1", "POST", "/api/v1/optim_step", lambda i: _optim(i, beta1=1.0), 422, "beta1"),
    ("eps = 0", "POST", "/api/v1/optim_step", lambda i: _optim(i, eps=0.0), 422, "eps"),
    ("empty datum list", "POST", "/api/v1/forward_backward", lambda i: _fb(i, []), 422, "data"),
    ("datum without model_input", "POST", "/api/v1/forward_backward",
     lambda i: _fb(i, [{"loss_fn_inputs": {}}]), 422, "model_input"),
    ("max_tokens 10^12", "POST", "/api/v1/asample",
     lambda i: _sample(i, sampling_params={"max_tokens": 10**12}), 422, "max_tokens"),
    ("max_tokens 0", "POST", "/api/v1/asample",
     lambda i: _sample(i, sampling_params={"max_tokens": 0}), 422, "max_tokens"),
    ("temperature -1", "POST", "/api/v1/asample",
     lambda i: _sample(i, sampling_params={"temperature": -1}), 422, "temperature"),
    ("top_p 2", "POST", "/api/v1/asample",
     lambda i: _sample(i, sampling_params={"top_p": 2}), 422, "top_p"),
    ("num_samples 10^6", "POST", "/api/v1/asample",
     lambda i: _sample(i, num_samples=10**6), 422, "num_samples"),
    ("empty prompt (no chunks)", "POST", "/api/v1/asample",
     lambda i: _sample(i, prompt={"chunks": []}), 400, "prompt"),
    ("empty prompt (no tokens)", "POST", "/api/v1/asample",
     lambda i: _sample(i, prompt={"chunks": [{"tokens": []}]}), 400, "prompt"),
    ("integer beyond 64 bits", "POST", "/api/v1/asample",
     lambda i: _sample(i, seq_id=2**70), 422, "seq_id"),
    ("limit=-1", "GET", "/api/v1/training_runs?limit=-1", lambda i: None, 422, "limit"),
    ("limit=10^6", "GET", "/api/v1/checkpoints?limit=1000000", lambda i: None, 422, "limit"),
    ("offset=-1", "GET", "/api/v1/sessions?offset=-1", lambda i: None, 422, "offset"),
    ("limit not a number", "GET", "/api/v1/training_runs?limit=ten", lambda i: None, 422,
     "limit"),
    ("malformed JSON", "POST", "/api/v1/create_session", lambda i: b"{oops", 400, "JSON"),
    ("body nested 100000 deep", "POST", "/api/v1/create_session",
     lambda i: b"[" * 100_000 + b"]" * 100_000, 400, "nested"),
    ("body over the size limit", "POST", "/api/v1/create_session",
     lambda i: b'{"x": "' + b"x" * (9 * 2**20) + b'"}', 413, "larger than"),
]


@pytest.mark.parametrize("case", EMULATOR_CASES, ids=[c[0] for c in EMULATOR_CASES])
def test_the_emulator_refuses_bad_input_at_once(emulator: Emulator, ids: dict[str, str],
                                                case: Case) -> None:
    name, method, path, build, status, names = case
    client = Client(emulator.base_url)
    body = build(ids)
    started = time.monotonic()
    if isinstance(body, bytes):
        response = client.session.request(method, emulator.base_url + path, data=body,
                                          headers={"Content-Type": "application/json"},
                                          timeout=30)
    else:
        response = client.session.request(method, emulator.base_url + path, json=body,
                                          timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text[:300]
    assert names in response.text
    assert elapsed < 1.0 + (0.5 if isinstance(body, bytes) and len(body) > 2**20 else 0.0)
    assert client.get("/api/v1/healthz").status_code == 200


@pytest.fixture(scope="module")
def service(emulator: Emulator) -> Iterator[tinkex.ServiceClient]:
    client = tinkex.ServiceClient(base_url=emulator.base_url, api_key="tml-bad-input")
    yield client
    client.close()


ClientCase = tuple[str, Callable[[tinkex.ServiceClient], Any], str]
CLIENT_CASES: list[ClientCase] = [
    ("LoRA rank 10^6",
     lambda c: c.create_lora_training_client(base_model=MICRO, rank=10**6), "rank"),
    ("learning rate 1e308", lambda c: types.AdamParams(learning_rate=1e308), "learning_rate"),
    ("max_tokens 10^12", lambda c: types.SamplingParams(max_tokens=10**12), "max_tokens"),
    ("empty datum list",
     lambda c: c.create_lora_training_client(base_model=MICRO, rank=4).forward_backward(
         [], "cross_entropy"), "datum"),
    ("num_samples 10^6",
     lambda c: c.create_sampling_client(base_model=MICRO).sample(
         types.ModelInput.from_ints([1]), 10**6, types.SamplingParams(max_tokens=2)),
     "num_samples"),
    ("limit=-1", lambda c: c.create_rest_client().list_training_runs(limit=-1), "limit"),
    ("limit=10^6", lambda c: c.create_rest_client().list_user_checkpoints(limit=10**6),
     "limit"),
]


@pytest.mark.parametrize("case", CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES])
def test_the_client_refuses_bad_arguments_naming_them(service: tinkex.ServiceClient,
                                                      case: ClientCase) -> None:
    name, call, names = case
    with pytest.raises(ValueError) as info:
        result = call(service)
        getattr(result, "result", lambda: None)()
    assert names in str(info.value)


def test_an_empty_prompt_is_a_bad_request_naming_the_prompt(service: tinkex.ServiceClient
                                                            ) -> None:
    sampler = service.create_sampling_client(base_model=MICRO)
    with pytest.raises(tinkex.BadRequestError) as info:
        sampler.sample(types.ModelInput.from_ints([]), 1,
                       types.SamplingParams(max_tokens=2)).result(timeout=30)
    assert "prompt" in str(info.value)

