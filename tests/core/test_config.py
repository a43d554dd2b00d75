"""Configuration precedence, the key prefix, and secrets kept out of reprs, logs and errors."""

from __future__ import annotations

import logging

import pytest
import responses

from tinkex.core.config import ClientConfig
from tinkex.core.errors import (
    APIConnectionError,
    BadRequestError,
    ConfigError,
    InternalServerError,
)
from tinkex.core.redact import Redactor, Secret, redact_headers, redact_text

from .conftest import BASE, CANARY

SECRET_HEADER = "cf-SECRET-VALUE-987"
PET = {"id": 1, "name": "Rex", "species": "dog"}


def with_env_headers(doc):
    doc["x-tinkex-auth"]["env_headers"] = [
        {"header": "X-Client-Id", "env": "PET_CLIENT_ID"},
        {"header": "X-Client-Secret", "env": "PET_CLIENT_SECRET", "secret": True},
    ]


@pytest.mark.parametrize(("arg", "env", "expected"), [
    ("http://arg.test/", "http://env.test", "http://arg.test"),
    (None, "http://env.test/v1/", "http://env.test/v1"),
    (None, "", "http://127.0.0.1:8080"),
    ("", None, "http://127.0.0.1:8080"),
])
def test_base_url_precedence(pet_table, arg, env, expected):
    environ = {"PETSTORE_TOKEN": CANARY} | ({"PETSTORE_URL": env} if env is not None else {})
    assert ClientConfig.resolve(pet_table, base_url=arg, environ=environ).base_url == expected


def test_api_key_from_argument_then_environment(pet_table):
    env = {"PETSTORE_TOKEN": "pet-from-env"}
    assert ClientConfig.resolve(pet_table, api_key="pet-arg", environ=env).api_key == "pet-arg"
    assert ClientConfig.resolve(pet_table, environ=env).api_key == "pet-from-env"


def test_a_missing_key_names_the_variable(pet_table):
    with pytest.raises(ConfigError, match=r"pass api_key= or set PETSTORE_TOKEN"):
        ClientConfig.resolve(pet_table, environ={"PETSTORE_TOKEN": ""})


@pytest.mark.parametrize(("arg", "env", "source"), [
    ("tml-CANARY-123456", None, "the api_key argument"),
    (None, "tml-CANARY-123456", "$PETSTORE_TOKEN"),
])
def test_a_key_without_the_prefix_is_refused_without_quoting_it(pet_table, arg, env, source):
    environ = {"PETSTORE_TOKEN": env} if env else {}
    with pytest.raises(ConfigError) as info:
        ClientConfig.resolve(pet_table, api_key=arg, environ=environ)
    message = str(info.value)
    assert message == f"The API key from {source} must start with 'pet-'."
    assert "CANARY" not in message and "CANARY" not in repr(info.value)


def test_env_headers_and_default_headers(variant):
    table = variant(with_env_headers)
    env = {"PET_CLIENT_ID": "id-1", "PET_CLIENT_SECRET": SECRET_HEADER, "PETSTORE_TOKEN": CANARY}
    config = ClientConfig.resolve(table, environ=env, default_headers={"X-Client-Id": "id-2",
                                                                       "X-Team": "blue"})
    assert dict(config.headers) == {"X-Client-Id": "id-2", "X-Client-Secret": SECRET_HEADER,
                                    "X-Team": "blue"}
    assert config.redactor.header_names >= {"x-pet-token", "x-client-secret", "authorization"}


def test_user_agent_and_options(pet_table, variant):
    env = {"PETSTORE_TOKEN": CANARY}
    assert ClientConfig.resolve(pet_table, environ=env, sdk_version="1.2").user_agent == \
        "petstore-client/1.2"
    assert ClientConfig.resolve(pet_table, environ=env, user_agent="me/{sdk_version}",
                                sdk_version="3").user_agent == "me/3"
    bare = variant(lambda doc: doc["x-tinkex-api"].pop("user_agent"))
    assert ClientConfig.resolve(bare, environ=env, sdk_version="9").user_agent == "petstore/9"
    with pytest.raises(ConfigError, match="max_retries must be >= 0"):
        ClientConfig.resolve(pet_table, environ=env, max_retries=-1)
    with pytest.raises(ConfigError, match="must start with http"):
        ClientConfig.resolve(pet_table, environ=env, base_url="ftp://x")


def test_the_repr_shows_no_secret(variant):
    table = variant(with_env_headers)
    env = {"PET_CLIENT_SECRET": SECRET_HEADER, "PETSTORE_TOKEN": CANARY}
    config = ClientConfig.resolve(table, environ=env, default_headers={"Authorization": "Bearer zzzz-TOKEN"})
    text = repr(config)
    assert CANARY not in text and SECRET_HEADER not in text and "zzzz-TOKEN" not in text
    assert "'pet-…(redacted)'" in text and "'X-Client-Secret': 'cf-S…(redacted)'" in text
    assert config.api_key == CANARY and isinstance(config.api_key, str)


def test_secret_and_redaction_helpers():
    assert repr(Secret(CANARY)) == "'pet-…(redacted)'"
    assert repr(Secret("abcdefg")) == "'a…(redacted)'" and repr(Secret("abc")) == "'…(redacted)'"
    assert f"{Secret('pet-x-value')}" == "pet-x-value"  # usable as the value it wraps
    assert redact_headers({"X-Pet-Token": CANARY, "Accept": "a"}, ["x-pet-token"]) == \
        {"X-Pet-Token": "pet-…(redacted)", "Accept": "a"}
    assert redact_text(f"key={CANARY}; again {CANARY}", [CANARY]) == \
        "key=pet-…(redacted); again pet-…(redacted)"
    assert redact_text("tiny 123", ["123"]) == "tiny 123"  # too short to hunt for in text
    assert Redactor([CANARY, CANARY[:8]]).text(CANARY) == "pet-…(redacted)"  # longest first


def test_no_secret_reaches_logs_or_errors(variant, make_engine, caplog):
    table = variant(with_env_headers)
    engine = make_engine(table, environ={"PET_CLIENT_SECRET": SECRET_HEADER})
    with caplog.at_level(logging.DEBUG), responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", status=503, json={"detail": f"saw {CANARY} {SECRET_HEADER}"})
        mock.get(f"{BASE}/pets/2", status=400, json={"detail": f"saw {CANARY} {SECRET_HEADER}"})
        mock.get(f"{BASE}/pets/3", body=ConnectionError(f"proxy said {CANARY}"))
        with pytest.raises(InternalServerError) as first:
            engine.call("get_pet", pet_id=1)
        with pytest.raises(BadRequestError) as second:
            engine.call("get_pet", pet_id=2)
        with pytest.raises(APIConnectionError) as third:
            engine.call("get_pet", pet_id=3)
        assert mock.calls[0].request.headers["X-Client-Secret"] == SECRET_HEADER
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry" in logged
    for text in (logged, str(first.value), str(second.value), str(third.value), repr(engine.config)):
        assert CANARY not in text and SECRET_HEADER not in text


def test_operations_needing_a_key_fail_clearly_without_one(pet_table, variant, make_engine):
    public = variant(lambda doc: doc["paths"]["/pets/{pet_id}"]["get"].__setitem__("security", []))
    config = ClientConfig.resolve(public, environ={}, require_api_key=False, base_url=BASE)
    assert config.api_key is None
    from tinkex.core.engine import Engine
    engine = Engine(public, config)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        assert engine.call("get_pet", pet_id=1) == PET  # no models given: plain JSON
        assert "X-Pet-Token" not in mock.calls[0].request.headers
    with pytest.raises(ConfigError, match="create_pet needs an API key"):
        engine.call("create_pet", name="a", species="cat")
    engine.close()
