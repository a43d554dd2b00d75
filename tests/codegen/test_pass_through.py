"""A new pass-through operation is a manifest edit away: after regen it is callable, typed, served.

The fixture adds one REST operation to a copy of the Tinker manifest, with
``sdk.client: RestClient`` and nothing else: no hand-written client method, no
emulator handler. Its outputs are built as ``make regen`` builds them; the
client class is the hand-written RestClient plus the regenerated pass-through
methods; the emulator routes it from the same document and answers 501.
"""

from __future__ import annotations

import ast
import asyncio
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinkex._context import ClientContext
from tinkex.codegen.build import compile_file
from tinkex.codegen.clients import generate_clients
from tinkex.codegen.stubs import generate_stub, generated_class_names
from tinkex.core.errors import APIStatusError
from tinkex.core.model.operations import OperationTable, load_table
from tinkex.emulator import Emulator
from tinkex.emulator.http import served as served_operations
from tinkex.rest_client import RestClient

ROOT = Path(__file__).resolve().parents[2]
MODELS = generated_class_names((ROOT / "tinkex" / "types" / "_generated.py").read_text())
NEW_OPERATION = """
  - id: get_checkpoint_note
    method: GET
    path: /api/v1/checkpoint_notes/{note_id}
    summary: One checkpoint note.
    params:
      - {name: note_id, in: path, schema: {type: string}}
      - {name: access_scope, in: query, schema: {$ref: AccessScope, default: owned}}
    result: Checkpoint
    pool: train
    retry: standard
    idempotent: false
    sdk: {group: rest, method: get_checkpoint_note, client: RestClient}
"""


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict:
    text = (ROOT / "spec" / "tinker.yaml").read_text(encoding="utf-8")
    anchor = "\n  - id: delete_checkpoint\n"
    assert anchor in text
    manifest = tmp_path_factory.mktemp("spec") / "tinker.yaml"
    manifest.write_text(text.replace(anchor, NEW_OPERATION + anchor, 1), encoding="utf-8")
    return compile_file(manifest)[1]


@pytest.fixture(scope="module")
def generated(document: dict) -> types.ModuleType:
    """The regenerated pass-through module, imported."""
    source = generate_clients(document, "tinkex.types._generated", "tinkex._passthrough", MODELS)
    module = types.ModuleType("fixture_clients")
    module.__dict__["__source__"] = source
    exec(compile(source, "fixture_clients.py", "exec"), module.__dict__)
    return module


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)


def test_the_low_level_stub_and_the_client_method_are_typed(document, generated):
    stub = ast.parse(generate_stub(document, "tinkex.types._generated", "tinkex._api", MODELS))
    low = _function(stub, "RestAPI", "get_checkpoint_note")
    assert ast.unparse(low.returns) == "Checkpoint"
    assert [a.arg for a in low.args.kwonlyargs][:2] == ["note_id", "access_scope"]
    method = _function(ast.parse(generated.__source__), "RestClientOperations",
                       "get_checkpoint_note")
    assert ast.unparse(method.args) == (
        "self, note_id: str, access_scope: Literal['owned', 'accessible']='owned'")
    assert ast.unparse(method.returns) == "APIFuture[Checkpoint]"
    assert hasattr(generated.RestClientOperations, "get_checkpoint_note_async")


@pytest.fixture
def served(document: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[str, OperationTable]]:
    """An emulator routed from the fixture document (no handler for the new operation)."""
    table = load_table(document)
    monkeypatch.setattr(served_operations, "load_operation_table", lambda: table)
    served_operations.operations.cache_clear()
    try:
        with Emulator(data_dir=tmp_path / "emu") as emulator:
            yield emulator.base_url, table
    finally:
        served_operations.operations.cache_clear()


def test_the_new_method_is_callable_and_served_501(served, generated):
    base_url, table = served

    class Client(RestClient, generated.RestClientOperations):
        pass

    context = ClientContext(base_url=base_url, api_key="tml-fixture", with_session=False,
                            table=table)
    try:
        client = Client(_context=context)
        with pytest.raises(APIStatusError) as info:
            client.get_checkpoint_note("n1").result(timeout=30)
        assert info.value.status_code == 501
        assert "get_checkpoint_note" in str(info.value)
        with pytest.raises(APIStatusError):
            asyncio.run(client.get_checkpoint_note_async("n1", access_scope="accessible"))
        assert client.list_checkpoints  # the manifest's other methods are still there
    finally:
        context.close(None)
