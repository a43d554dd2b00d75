"""RequestOptions (one frozen value per call) and NOT_GIVEN (not passed, unlike None) on the wire."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections.abc import Iterator
from functools import cache
from types import ModuleType
from typing import Any

import pytest
import responses

import tinkex
from tinkex.core.api import build_api
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine
from tinkex.core.errors import InvalidArgumentError
from tinkex.core.model.operations import OperationTable
from tinkex.core.options import (
    DEFAULT_OPTIONS,
    NOT_GIVEN,
    NotGiven,
    Omit,
    RequestOptions,
    given,
    is_given,
    omit,
    split_options,
)

from .loopback import compile_manifest

BASE = "http://notes.test"
KEY = "nt-key"

MANIFEST = """
manifest_version: 1
api: {name: notes, title: Notes, version: "1.0", base_url: http://127.0.0.1:9}
auth: {header: X-Notes-Key, env: NOTES_KEY, prefix: "nt-"}
defaults: {pool: main, retry: twice, timeout: {connect: 2, read: 5}}
pools:
  main: {connections: 2}
retry_policies:
  twice: {max_attempts: 2, statuses: [5XX], backoff: {initial: 0.001, max: 0.001}}
errors:
  map:
    - {status: 5XX, exception: InternalServerError}
sdk:
  client_class: NotesAPI
  groups:
    notes: {class_name: NotesGroup}
types:
  NoteIn:
    type: object
    properties:
      text: {type: string}
      expires_in: {type: [integer, "null"], description: "null: never expires"}
      colour: {type: string}
      pinned: {type: boolean, default: false}
    required: [text]
  Note:
    type: object
    properties:
      id: {type: string}
    required: [id]
operations:
  - id: write_note
    method: POST
    path: /notes
    summary: Write a note.
    params:
      - {name: folder, in: query, required: false, schema: {type: string, default: inbox}}
      - {name: tag, in: query, required: false, schema: {type: [string, "null"]}}
    body: NoteIn
    result: Note
    sdk: {group: notes, method: write}
"""


@cache
def notes() -> tuple[OperationTable, ModuleType]:
    return compile_manifest(MANIFEST, "notes")


@pytest.fixture
def engine() -> Iterator[Engine]:
    table, models = notes()
    engine = Engine(table, ClientConfig.resolve(table, api_key=KEY, base_url=BASE, environ={}),
                    models_module=models)
    yield engine
    engine.close()


@pytest.fixture
def wire() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/notes", json={"id": "n1"})
        yield mock


def sent(mock: responses.RequestsMock) -> tuple[dict[str, Any], dict[str, str], Any]:
    """The body, query and request of the last call."""
    request = mock.calls[-1].request
    query = dict(pair.split("=", 1) for pair in (request.url.partition("?")[2] or "").split("&")
                 if pair)
    return json.loads(request.body), query, request


# ---- the values ------------------------------------------------------------------------------


def test_request_options_is_a_frozen_slotted_value_with_a_shared_default():
    options = RequestOptions(timeout=3, max_retries=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 4  # type: ignore[misc]
    assert not hasattr(options, "__dict__")
    assert options == RequestOptions(timeout=3, max_retries=1) and hash(options)
    assert RequestOptions.of() is DEFAULT_OPTIONS
    assert RequestOptions.of(timeout=None, max_retries=NOT_GIVEN) is DEFAULT_OPTIONS
    assert RequestOptions.of(timeout=2) == RequestOptions(timeout=2)
    assert options.merged(timeout=None) is options
    assert options.merged(idempotency_key="k") == RequestOptions(3, 1, "k")


def test_an_unknown_option_is_named():
    with pytest.raises(TypeError, match="unknown request option.*: retries"):
        RequestOptions.of(retries=3)


def test_the_repr_of_options_shows_header_names_not_values():
    options = RequestOptions(timeout=1, extra_headers={"Authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(options) and "Authorization" in repr(options)
    assert repr(DEFAULT_OPTIONS) == "RequestOptions()"


def test_split_options_builds_nothing_for_a_call_without_options():
    kwargs: dict[str, Any] = {"text": "hi"}
    assert split_options(kwargs) is DEFAULT_OPTIONS and kwargs == {"text": "hi"}
    kwargs = {"text": "hi", "timeout": 2, "extra_body": {"x": 1}}
    assert split_options(kwargs) == RequestOptions(timeout=2, extra_body={"x": 1})
    assert kwargs == {"text": "hi"}


def test_not_given_is_a_falsy_singleton_distinct_from_none():
    assert NotGiven() is NOT_GIVEN and not NOT_GIVEN and repr(NOT_GIVEN) == "NOT_GIVEN"
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN
    assert is_given(None) and not is_given(NOT_GIVEN)
    assert given(None) is NOT_GIVEN and given(0) == 0 and given("") == ""
    assert Omit() is omit and not omit and pickle.loads(pickle.dumps(omit)) is omit
    assert tinkex.NOT_GIVEN is NOT_GIVEN and tinkex.NotGiven is NotGiven
    assert tinkex.omit is omit and tinkex.Omit is Omit


# ---- on the wire -----------------------------------------------------------------------------


def test_an_explicit_none_is_sent_as_null_where_the_schema_allows_it(engine, wire):
    engine.call("write_note", text="a", expires_in=None)
    body, _, _ = sent(wire)
    assert body == {"text": "a", "expires_in": None, "pinned": False}


def test_a_field_not_given_is_left_out_and_none_for_a_non_nullable_field_too(engine, wire):
    engine.call("write_note", text="a")
    assert sent(wire)[0] == {"text": "a", "pinned": False}
    engine.call("write_note", text="a", expires_in=NOT_GIVEN, colour=None, pinned=NOT_GIVEN)
    assert sent(wire)[0] == {"text": "a", "pinned": False}  # the model's default stays


def test_query_parameters_keep_their_default_when_not_given_and_drop_none(engine, wire):
    engine.call("write_note", text="a", folder=NOT_GIVEN, tag=None)
    assert sent(wire)[1] == {"folder": "inbox"}
    engine.call("write_note", text="a", folder=None)  # None: no value, so nothing is sent
    assert sent(wire)[1] == {}
    engine.call("write_note", text="a", folder="work", tag="x")
    assert sent(wire)[1] == {"folder": "work", "tag": "x"}


def test_a_required_argument_given_as_not_given_is_missing(engine):
    with pytest.raises(TypeError, match="missing required keyword argument.*text"):
        engine.call("write_note", text=NOT_GIVEN)


def test_the_options_reach_the_request(engine, wire):
    options = RequestOptions(idempotency_key="k-1", extra_headers={"X-Trace": "t", "Accept": omit},
                             extra_query={"debug": 1}, extra_body={"colour": "red"})
    engine.call("write_note", options, text="a")
    body, query, request = sent(wire)
    assert body["colour"] == "red" and query == {"folder": "inbox", "debug": "1"}
    assert request.headers["X-Trace"] == "t" and "Accept" not in request.headers


def test_retry_false_and_max_retries_shape_the_attempts(engine):
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/notes", status=503)
        with pytest.raises(tinkex.InternalServerError):
            engine.call("write_note", RequestOptions(retry=False), text="a")
        assert len(mock.calls) == 1
        with pytest.raises(tinkex.InternalServerError):
            engine.call("write_note", RequestOptions(max_retries=3), text="a")
        assert len(mock.calls) == 1 + 4


def test_send_refuses_options_that_need_a_routed_body(engine):
    with pytest.raises(InvalidArgumentError, match="extra_body"):
        engine.send("write_note", body={"text": "a"},
                    options=RequestOptions(extra_body={"colour": "red"}))


def test_the_low_level_api_defaults_optional_parameters_to_not_given(engine, wire):
    import inspect

    table, models = notes()
    api = build_api(table, models=models)(engine)
    params = inspect.signature(api.notes.write).parameters
    assert params["folder"].default is NOT_GIVEN and params["expires_in"].default is NOT_GIVEN
    assert params["timeout"].default is None and "NotGiven" in params["folder"].annotation
    api.notes.write(text="a", expires_in=None, timeout=2)
    assert sent(wire)[0] == {"text": "a", "expires_in": None, "pinned": False}
    api.notes.write(text="a", folder=NOT_GIVEN, expires_in=NOT_GIVEN)
    body, query, _ = sent(wire)
    assert body == {"text": "a", "pinned": False} and query == {"folder": "inbox"}
