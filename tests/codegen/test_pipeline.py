"""The codegen pipeline end to end: compile, validate, round-trip, generate, stay generic."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tinkex.codegen.build import build, compile_file
from tinkex.codegen.compile import compile_manifest, normalize_manifest
from tinkex.codegen.importer import import_openapi
from tinkex.codegen.validate import validate_document, validate_extensions

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = ROOT / "tests" / "fixtures" / "petstore.yaml"
TINKER = ROOT / "spec" / "tinker.yaml"
MANIFESTS = [PETSTORE, TINKER]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_compiled_document_is_valid_openapi_with_valid_extensions(path):
    _, doc = compile_file(path)
    assert doc["openapi"] == "3.1.0"
    assert validate_document(doc) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_round_trips_through_openapi(path):
    manifest, doc = compile_file(path)
    back = import_openapi(json.loads(json.dumps(doc)))
    want = normalize_manifest(manifest)
    # operation order is presentation, not meaning: compare operations by id
    assert {op["id"]: op for op in back.pop("operations")} == \
        {op["id"]: op for op in want.pop("operations")}
    assert back == want
    # and the imported manifest compiles to the very same document
    assert compile_manifest(import_openapi(doc)) == doc


def test_import_openapi_cli_writes_a_manifest_that_builds(tmp_path):
    _, doc = compile_file(PETSTORE)
    src = tmp_path / "pets.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "pets.yaml"
    subprocess.run([sys.executable, "-m", "tinkex.codegen", "import-openapi", str(src), "-o", str(out)],
                   check=True, cwd=ROOT)
    rebuilt, _ = compile_file(out)
    assert rebuilt == normalize_manifest(yaml.safe_load(PETSTORE.read_text()))


def test_import_of_a_foreign_openapi_document_gives_a_skeleton_that_checks(tmp_path):
    foreign = {
        "openapi": "3.0.3",
        "info": {"title": "Weather", "version": "2"},
        "servers": [{"url": "https://weather.example"}],
        "paths": {"/forecast/{city}": {"get": {
            "operationId": "getForecast", "tags": ["forecasts"],
            "parameters": [{"name": "city", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Forecast"}}}}}}}},
        "components": {"schemas": {"Forecast": {"type": "object", "properties": {
            "temp": {"type": "number", "nullable": True}}}}},
    }
    manifest = import_openapi(foreign)
    path = tmp_path / "weather.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    _, doc = compile_file(path)
    assert doc["paths"]["/forecast/{city}"]["get"]["x-tinkex-sdk"] == \
        {"group": "forecasts", "method": "get_forecast"}
    assert manifest["types"]["Forecast"]["properties"]["temp"]["type"] == ["number", "null"]


def test_junk_extension_value_fails_with_a_clear_message():
    _, doc = compile_file(PETSTORE)
    bad = copy.deepcopy(doc)
    bad["paths"]["/pets"]["get"]["x-tinkex-pool"] = 7
    bad["x-tinkex-retry-policies"]["standard"]["backoff"]["jitter"] = 3
    bad["x-tinkex-surprise"] = True
    problems = validate_extensions(bad)
    assert "paths./pets.get.x-tinkex-pool: 7 is not of type 'string'" in problems
    assert any(p.startswith("<root>.x-tinkex-retry-policies.standard.backoff.jitter: 3 is greater")
               for p in problems), problems
    assert "<root>.x-tinkex-surprise: unknown extension key" in problems


def test_generic_build_of_an_unrelated_api(tmp_path):
    """The same codegen builds the petstore: models import and validate, the stub parses."""
    out = tmp_path / "pets"
    subprocess.run([sys.executable, "-m", "tinkex.codegen", "build", str(PETSTORE), "--out", str(out)],
                   check=True, cwd=ROOT)
    spec = importlib.util.spec_from_file_location("pet_models", out / "models.py")
    models = importlib.util.module_from_spec(spec)
    sys.modules["pet_models"] = models  # pydantic resolves forward references through it
    try:
        spec.loader.exec_module(models)
        pet = models.Pet.model_validate({"id": 1, "name": "Rex", "species": "dog"})
    finally:
        del sys.modules["pet_models"]
    assert pet.species is models.Species.dog and pet.tags == []
    stub = (out / "api.pyi").read_text()
    compile(stub, "api.pyi", "exec")
    assert "class PetStoreAPI:" in stub and "def iter_list(" in stub
    assert "-> APIFuture[GroomResult]:" in stub


def test_build_is_deterministic():
    kw = dict(models_module="m", runtime_module="r")
    a, b = build(PETSTORE, **kw), build(PETSTORE, **kw)
    assert (a.openapi_json, a.models_py, a.stub_pyi) == (b.openapi_json, b.models_py, b.stub_pyi)
