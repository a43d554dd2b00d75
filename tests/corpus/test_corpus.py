"""Real public OpenAPI documents, with zero hand edits: import -> check -> build, the models
import, import -> build -> import round-trips, the importer's warnings are exactly the
pinned list, and a few operations per document are called through ``tinkex.core``
against a loopback server that checks method, path, query, headers, body and auth."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pydantic import BaseModel

from tests.core.loopback import LoopbackServer, Reply
from tests.corpus.corpus_build import CORPUS, LARGE, ROOT, SMALL, built
from tinkex.codegen.check import check_manifest
from tinkex.codegen.compile import compile_manifest, normalize_manifest
from tinkex.codegen.importer import import_openapi
from tinkex.codegen.yamlsource import load_yaml
from tinkex.core.api import build_api
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine
from tinkex.core.model.operations import OperationTable

DOCUMENTS = [*SMALL, *(pytest.param(n, marks=pytest.mark.corpus) for n in LARGE)]
KEY = "corpus-key-0123456789"


def _by_id(manifest: dict[str, Any]) -> dict[str, Any]:
    ops = {op["id"]: op for op in manifest["operations"]}
    return {**{k: v for k, v in manifest.items() if k != "operations"}, "operations": ops}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_import_check_build_and_models(name, corpus_dir):
    b = built(name, corpus_dir)
    check_manifest(load_yaml(b.manifest_path))  # the written manifest checks as it is
    doc = b.result.document
    ops = [op for item in doc["paths"].values() for op in item.values()]
    assert ops and len(ops) == len(b.imported.manifest["operations"])
    # every object schema has its model class, under the name the runtime looks for
    names = OperationTable.load(doc).class_names
    for schema, cls in names.items():
        if doc["components"]["schemas"][schema].get("type") == "object" and \
                doc["components"]["schemas"][schema].get("properties"):
            model = getattr(b.models, cls, None)
            assert isinstance(model, type) and issubclass(model, BaseModel), (schema, cls)
    compile(b.result.stub_pyi, "api.pyi", "exec")  # the stub is valid Python


@pytest.mark.parametrize("name", DOCUMENTS)
def test_import_build_import_round_trips(name, corpus_dir):
    b = built(name, corpus_dir)
    first = normalize_manifest(b.imported.manifest)
    again = import_openapi(json.loads(b.result.openapi_json))
    assert _by_id(normalize_manifest(again)) == _by_id(first)
    assert compile_manifest(again) == b.result.document


@pytest.mark.parametrize("name", DOCUMENTS)
def test_warnings_are_the_pinned_list(name, corpus_dir):
    b = built(name, corpus_dir)
    got = [w.replace(str(ROOT) + "/", "") for w in b.imported.warnings]
    pinned = CORPUS / "warnings" / (name + ".txt")
    assert got == pinned.read_text(encoding="utf-8").splitlines()


# ---- calls against a loopback server ------------------------------------------------------


@pytest.fixture
def server():
    srv = LoopbackServer()
    try:
        yield srv
    finally:
        srv.close()


def _engine(name: str, corpus_dir: Path, server: LoopbackServer, **config: Any) -> Engine:
    b = built(name, corpus_dir)
    table = OperationTable.load(b.result.document)
    cfg = ClientConfig.resolve(table, base_url=server.url, environ={}, **config)
    return Engine(table, cfg, models_module=b.models)


def _one(server: LoopbackServer, path: str):
    [request] = server.received(path)
    return request


def test_swagger_petstore_calls(corpus_dir, server):
    name = "swagger-petstore-3.0.yaml"
    pet = {"id": 7, "name": "Rex", "photoUrls": [], "status": "available"}
    server.route("GET", "/pet/findByStatus", lambda r: Reply(200, [pet]))
    server.route("GET", "/pet/7", lambda r: Reply(200, pet))
    server.route("PUT", "/user/ann", lambda r: Reply(200, None))
    server.route("DELETE", "/pet/7", lambda r: Reply(200, None))
    engine = _engine(name, corpus_dir, server, api_key=KEY,
                     credentials={"petstore_auth": "oauth-token-0123"})
    try:
        api = build_api(engine.table, models=built(name, corpus_dir).models)(engine)
        found = api.pet.find_pets_by_status(status="available")
        assert found.root[0].name == "Rex"  # an array result is a RootModel
        request = _one(server, "/pet/findByStatus")
        assert parse_qsl(request.query) == [("status", "available")]
        assert request.headers["authorization"] == "Bearer oauth-token-0123"  # oauth2 scheme
        assert api.pet.get_pet_by_id(pet_id=7).id == 7
        assert _one(server, "/pet/7").headers["api_key"] == KEY  # first alternative: apiKey
        # the path parameter keeps its name; the body field of the same name gets a suffix
        api.user.update_user(username="ann", username_body="ann2", email="a@example.org")
        request = _one(server, "/user/ann")
        assert request.method == "PUT" and request.json() == {"username": "ann2",
                                                               "email": "a@example.org"}
        api.pet.delete_pet(pet_id=7, api_key="header-value")
        deleted = [r for r in server.received("/pet/7") if r.method == "DELETE"][0]
        assert deleted.headers["api_key"] == "header-value"
        assert deleted.headers["authorization"] == "Bearer oauth-token-0123"
    finally:
        engine.close()


def test_museum_calls(corpus_dir, server):
    name = "redocly-museum-3.1.yaml"
    server.route("GET", "/museum-hours", lambda r: Reply(200, [
        {"date": "2024-09-11", "timeOpen": "09:00", "timeClose": "18:00"}]))
    event = {"eventId": "3be6453c-03eb-4357-ae5a-984a0e574a54", "name": "Pirate Coding Workshop",
             "location": "Seattle", "eventDescription": "Learn.", "dates": ["2024-10-29"],
             "price": 25}
    server.route("POST", "/special-events", lambda r: Reply(201, r.json()))
    engine = _engine(name, corpus_dir, server, api_key="user:secret")
    try:
        hours = engine.call("getMuseumHours", start_date="2024-09-11", page=2, limit=10)
        assert str(hours.root[0].date) == "2024-09-11"
        request = _one(server, "/museum-hours")
        assert sorted(parse_qsl(request.query)) == [("limit", "10"), ("page", "2"),
                                                    ("startDate", "2024-09-11")]
        assert request.headers["authorization"] == \
            "Basic " + base64.b64encode(b"user:secret").decode()
        created = engine.call("createSpecialEvent", **{
            "event_id": event["eventId"], "name": event["name"], "location": event["location"],
            "event_description": event["eventDescription"], "dates": event["dates"],
            "price": event["price"]})
        assert created.name == event["name"]
        assert _one(server, "/special-events").json()["eventId"] == event["eventId"]
    finally:
        engine.close()


def test_svix_calls(corpus_dir, server):
    name = "svix-3.0.json"
    app = {"id": "app_1", "name": "Billing", "createdAt": "2024-01-01T00:00:00Z",
           "updatedAt": "2024-01-01T00:00:00Z", "metadata": {}}
    server.route("POST", "/api/v1/app", lambda r: Reply(201, {**app, "name": r.json()["name"]}))
    server.route("GET", "/api/v1/app/app_1", lambda r: Reply(200, app))
    server.route("GET", "/api/v1/app", lambda r: Reply(200, {"data": [app], "done": True,
                                                             "iterator": None}))
    engine = _engine(name, corpus_dir, server, api_key=KEY)
    try:
        # the document's own Idempotency-Key header meets the call option of that name
        out = engine.call("v1.application.create", name="Billing", get_if_exists=True,
                          idempotency_key_header="idem-1")
        assert out.name == "Billing"
        request = _one(server, "/api/v1/app")
        assert parse_qsl(request.query) == [("get_if_exists", "true")]
        assert request.headers["idempotency-key"] == "idem-1"
        assert request.json() == {"name": "Billing", "metadata": {}}  # the schema's default
        assert "authorization" not in request.headers  # the document declares no security
        assert engine.call("v1.application.get", app_id="app_1").id == "app_1"
        page = engine.call("v1.application.list", limit=5)
        assert page.data[0].id == "app_1"
    finally:
        engine.close()


OPENAI_MODEL = {"id": "gpt-4o", "object": "model", "created": 1700000000, "owned_by": "openai"}
OPENAI_COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Hello.", "refusal": None}}]}


@pytest.mark.corpus
@pytest.mark.parametrize("name", LARGE)
def test_openai_calls(name, corpus_dir, server):
    server.route("GET", "/models", lambda r: Reply(200, {"object": "list",
                                                        "data": [OPENAI_MODEL]}))
    server.route("GET", "/models/gpt-4o", lambda r: Reply(200, OPENAI_MODEL))
    server.route("GET", "/files", lambda r: Reply(200, {
        "object": "list", "data": [], "first_id": "file-1", "last_id": "file-1",
        "has_more": False}))
    server.route("POST", "/chat/completions", lambda r: Reply(200, OPENAI_COMPLETION))
    server.route("POST", "/images/edits", lambda r: Reply(200, {
        "created": 1700000000, "data": [{"b64_json": "aGk="}]}))
    engine = _engine(name, corpus_dir, server, api_key="sk-test-0123456789")
    models = built(name, corpus_dir).models
    try:
        api = build_api(engine.table, models=models)(engine)
        assert api.models.list_models().data[0].id == "gpt-4o"
        listed = _one(server, "/models")
        assert listed.method == "GET" and listed.body == b""
        assert listed.headers["authorization"] == "Bearer sk-test-0123456789"  # http bearer
        assert api.models.retrieve_model(model="gpt-4o").owned_by == "openai"  # `Model` class
        assert api.files.list_files(purpose="fine-tune", limit=2, order="asc").has_more is False
        assert sorted(parse_qsl(_one(server, "/files").query)) == [
            ("limit", "2"), ("order", "asc"), ("purpose", "fine-tune")]
        answer = api.chat.create_chat_completion(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}],
            max_completion_tokens=5)
        assert isinstance(answer, models.CreateChatCompletionResponse)
        assert answer.choices[0].message.content == "Hello."
        request = _one(server, "/chat/completions")
        assert request.headers["content-type"] == "application/json"
        assert {k: request.json()[k] for k in ("model", "messages", "max_completion_tokens")} == {
            "model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
            "max_completion_tokens": 5}
        if name == "openai-3.1.json":  # a JSON image edit: ImageRefParam has its class
            image = models.ImageRefParam(image_url="https://example.com/a.png")
            edited = api.images.create_image_edit(images=[image, {"file_id": "file-1"}],
                                                  prompt="Add a hat")
            assert edited.data[0].b64_json == "aGk="
            body = _one(server, "/images/edits").json()
            assert body["images"] == [{"image_url": "https://example.com/a.png"},
                                      {"file_id": "file-1"}]
            assert body["prompt"] == "Add a hat"
    finally:
        engine.close()
