"""The bad-input table: every bad request is refused at once, naming what is wrong.

Emulator cases go over raw HTTP (what any client could send); each must be a
4xx within a second whose detail names the field, and the emulator must keep
serving. Client cases go through tinkex: a bad argument is a
``tinkex.InvalidArgumentError`` (a ``ValueError`` too) naming the parameter or
field, raised before anything is sent.
"""

from __future__ import annotations

import pickle
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


def _trainer(c: tinkex.ServiceClient) -> tinkex.TrainingClient:
    return c.create_lora_training_client(base_model=MICRO, rank=4)


def _sampler(c: tinkex.ServiceClient) -> tinkex.SamplingClient:
    return c.create_sampling_client(base_model=MICRO)


_PROMPT = [1, 2]


def _datum(**tensor: Any) -> dict[str, Any]:
    target = {"data": [1, 2], "dtype": "int64", "shape": [2], **tensor}
    return {"model_input": {"chunks": [{"tokens": _PROMPT}]},
            "loss_fn_inputs": {"target_tokens": target}}


ClientCase = tuple[str, Callable[[tinkex.ServiceClient], Any], str]
CLIENT_CASES: list[ClientCase] = [
    ("LoRA rank 10^6",
     lambda c: c.create_lora_training_client(base_model=MICRO, rank=10**6), "rank"),
    ("LoRA rank 0", lambda c: c.create_lora_training_client(base_model=MICRO, rank=0), "rank"),
    ("no LoRA target",
     lambda c: c.create_lora_training_client(base_model=MICRO, rank=4, train_mlp=False,
                                             train_attn=False, train_unembed=False),
     "train_mlp"),
    ("learning rate 1e308", lambda c: _trainer(c).optim_step({"learning_rate": 1e308}),
     "learning_rate"),
    ("learning rate inf",
     lambda c: _trainer(c).optim_step(adam_params={"learning_rate": float("inf")}),
     "learning_rate"),
    ("learning rate nan", lambda c: _trainer(c).optim_step({"learning_rate": float("nan")}),
     "learning_rate"),
    ("max_tokens -1",
     lambda c: _sampler(c).sample(types.ModelInput.from_ints(_PROMPT), 1, {"max_tokens": -1}),
     "max_tokens"),
    ("max_tokens 10^12",
     lambda c: _sampler(c).sample(types.ModelInput.from_ints(_PROMPT), 1,
                                  {"max_tokens": 10**12}), "max_tokens"),
    ("num_samples 10^6",
     lambda c: _sampler(c).sample(types.ModelInput.from_ints(_PROMPT), 10**6,
                                  types.SamplingParams(max_tokens=2)), "num_samples"),
    ("num_samples 0",
     lambda c: _sampler(c).sample(types.ModelInput.from_ints(_PROMPT), 0,
                                  types.SamplingParams(max_tokens=2)), "num_samples"),
    ("empty datum list", lambda c: _trainer(c).forward_backward([], "cross_entropy"), "datum"),
    ("bad dtype in a datum",
     lambda c: _trainer(c).forward_backward([_datum(dtype="float16")], "cross_entropy"),
     "data[0]: loss_fn_inputs.target_tokens.dtype"),
    ("bad dtype for a tensor", lambda c: types.TensorData.from_list([1, 2], dtype="float16"),
     "dtype"),
    ("limit=-1", lambda c: c.create_rest_client().list_training_runs(limit=-1), "limit"),
    ("limit=10^6", lambda c: c.create_rest_client().list_user_checkpoints(limit=10**6),
     "limit"),
    ("bad checkpoint id",
     lambda c: c.create_rest_client().get_checkpoint_archive_url("run-1", "nope"),
     "checkpoint id"),
]


@pytest.mark.parametrize("case", CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES])
def test_the_client_refuses_bad_arguments_naming_them(service: tinkex.ServiceClient,
                                                      case: ClientCase) -> None:
    name, call, names = case
    with pytest.raises(tinkex.InvalidArgumentError) as info:
        result = call(service)
        getattr(result, "result", lambda: None)()
    assert names in str(info.value)
    assert isinstance(info.value, ValueError)  # ``except ValueError`` code keeps working
    assert isinstance(info.value, tinkex.TinkerError)
    assert "pydantic" not in str(info.value)


def test_a_bad_argument_is_not_echoed_or_chained(service: tinkex.ServiceClient) -> None:
    canary = "tml-canary-" + "7" * 24
    sampler = _sampler(service)
    with pytest.raises(tinkex.InvalidArgumentError) as info:
        sampler.sample(types.ModelInput.from_ints(_PROMPT), 1, {"max_tokens": canary})
    error = info.value
    assert error.field == "max_tokens"
    assert "max_tokens" in str(error)
    assert canary not in str(error) and canary not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert canary not in repr(pickle.loads(pickle.dumps(error)).__dict__)


def test_a_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(tinkex.ConfigError, match="base"):
        tinkex.ServiceClient(base_url="http://[::1", api_key="tml-bad-input")


def test_constructing_a_model_directly_keeps_pydantic_errors() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="learning_rate"):
        types.AdamParams(learning_rate=float("inf"))


def test_an_empty_prompt_is_a_bad_request_naming_the_prompt(service: tinkex.ServiceClient
                                                            ) -> None:
    sampler = service.create_sampling_client(base_model=MICRO)
    with pytest.raises(tinkex.BadRequestError) as info:
        sampler.sample(types.ModelInput.from_ints([]), 1,
                       types.SamplingParams(max_tokens=2)).result(timeout=30)
    assert "prompt" in str(info.value)

