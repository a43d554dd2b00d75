"""The runtime-built low-level API: it matches the generated stub, and its calls behave.

Stub and runtime are compared twice: by ``mypy.stubtest`` on the petstore build,
and by a direct comparison of every signature with the stub's AST (names, kinds,
defaults present or absent, annotation strings, docstrings), which also runs on
the project's own stub when it has been generated.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import responses

from tinkex.core.api import api_classes, build_api
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine, EngineHooks
from tinkex.core.model.operations import OperationTable

from .conftest import BASE, CANARY

ROOT = Path(__file__).resolve().parents[2]
PET = {"id": 1, "name": "Rex", "species": "dog"}


def stub_mismatches(stub: str, classes: dict[str, type]) -> list[str]:
    """Every difference between the classes of a ``.pyi`` and the runtime classes."""
    problems: list[str] = []
    for node in ast.parse(stub).body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = classes.get(node.name)
        if cls is None:
            problems.append(f"{node.name}: not built at run time")
            continue
        if ast.get_docstring(node) != cls.__doc__:
            problems.append(f"{node.name}: docstring {cls.__doc__!r}")
        in_stub = set()
        for fn in node.body:
            if isinstance(fn, ast.FunctionDef):
                in_stub.add(fn.name)
                problems += _function_mismatches(node.name, fn, cls.__dict__.get(fn.name))
        extra = {n for n in vars(cls) if not n.startswith("_")} - in_stub
        problems += [f"{node.name}.{n}: not in the stub" for n in sorted(extra)]
    return problems


def _function_mismatches(owner: str, fn: ast.FunctionDef, runtime: Any) -> list[str]:
    where = f"{owner}.{fn.name}"
    if fn.decorator_list:
        if not isinstance(runtime, property) or runtime.fset is not None:
            return [f"{where}: not a read-only property"]
        got = runtime.fget.__annotations__.get("return")  # type: ignore[union-attr]
        return [] if got == ast.unparse(fn.returns) else [f"{where}: returns {got}"]  # type: ignore[arg-type]
    if runtime is None:
        return [f"{where}: missing at run time"]
    want = [(a.arg, "POSITIONAL_OR_KEYWORD", False, _ann(a.annotation)) for a in fn.args.args]
    want += [(a.arg, "KEYWORD_ONLY", d is not None, _ann(a.annotation))
             for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True)]
    sig = inspect.signature(runtime)
    got = [(p.name, p.kind.name, p.default is not p.empty,
            None if p.annotation is p.empty or p.name == "self" else p.annotation)
           for p in sig.parameters.values()]
    problems = [f"{where}: parameters {got} != {want}"] if got != want else []
    if sig.return_annotation != _ann(fn.returns):
        problems.append(f"{where}: returns {sig.return_annotation!r}, stub {_ann(fn.returns)!r}")
    doc = (runtime.__doc__ or "").replace('"""', "'''") or None
    if doc != ast.get_docstring(fn):
        problems.append(f"{where}: docstring {runtime.__doc__!r}")
    if runtime.__name__ != fn.name or runtime.__qualname__ != where:
        problems.append(f"{where}: named {runtime.__qualname__}")
    return problems


def _ann(node: ast.expr | None) -> str | None:
    return ast.unparse(node) if node is not None else None


# ---- stub == runtime --------------------------------------------------------------------


def test_stubtest_agrees_with_the_runtime(pet_dir: Path):
    (pet_dir / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pet_dir), str(ROOT)]))
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "petstore_api", "--mypy-config-file", "mypy.ini",
         "--concise"], cwd=pet_dir, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_signature_matches_the_petstore_stub(pet_dir, pet_table, pet_models):
    stub = (pet_dir / "petstore_api.pyi").read_text()
    assert stub_mismatches(stub, api_classes(pet_table, models=pet_models)) == []


def test_the_comparison_notices_a_drifted_stub(pet_dir, pet_table, pet_models):
    stub = (pet_dir / "petstore_api.pyi").read_text()
    start = stub.index("class PetsAPI:")
    end = stub.index("\nclass ", start)
    pets = (stub[start:end].replace("pet_id: int,", "pet_id: int = ...,", 1)
            .replace("-> PetList:", "-> Pet:").replace("style: str | NotGiven = NOT_GIVEN", "style: int | NotGiven = NOT_GIVEN"))
    raw = stub[:start].replace("-> RawResponse[Pet]:", "-> RawResponse[PetList]:", 1)
    problems = stub_mismatches(raw + pets + stub[end:], api_classes(pet_table, models=pet_models))
    assert [p.split(":")[0] for p in problems] == [
        "PetsAPIWithRawResponse.create", "PetsAPI.get", "PetsAPI.groom", "PetsAPI.list"]


def test_every_signature_matches_the_project_stub():
    stub, doc = ROOT / "tinkex" / "_api.pyi", ROOT / "tinkex" / "_spec" / "openapi.json"
    if not (stub.exists() and doc.exists()):
        pytest.skip("the project's stub has not been generated yet")
    models = importlib.import_module("tinkex.types._generated")
    classes = api_classes(OperationTable.load(doc), models=models)
    assert stub_mismatches(stub.read_text(), classes) == []


# ---- calls ------------------------------------------------------------------------------


@pytest.fixture
def api(make_engine):
    return build_api(make_engine().table)(make_engine())


def test_methods_call_the_engine_and_return_models(api, pet_models):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        mock.post(f"{BASE}/pets", json=PET)
        pet = api.pets.get(pet_id=1)
        created = api.pets.create(name="Rex", species=pet_models.Species.dog,
                                  extra_headers={"X-Trace": "t1"}, extra_query={"dry": "1"},
                                  extra_body={"note": "hi"})
        post = mock.calls[1].request
    assert isinstance(pet, pet_models.Pet) and pet == created
    assert post.headers["X-Trace"] == "t1" and post.url == f"{BASE}/pets?dry=1"
    assert post.body == b'{"name":"Rex","species":"dog","note":"hi"}'


def test_arguments_are_checked_like_a_real_signature(api, make_engine):
    with pytest.raises(TypeError, match="get_pet needs the path parameter 'pet_id'"):
        make_engine().send("get_pet")
    with pytest.raises(TypeError, match="missing required keyword argument.*pet_id"):
        api.pets.get()
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        api.pets.get(pet_id=1, colour="red")
    with pytest.raises(TypeError):
        api.pets.get(1)
    with pytest.raises(AttributeError):
        api.pets = None
    assert type(api).__name__ == "PetStoreAPI" and type(api.jobs).__name__ == "JobsAPI"


def _page(pets: list[int], offset: int, total: int) -> dict[str, Any]:
    return {"pets": [{"id": i, "name": f"p{i}", "species": "cat"} for i in pets],
            "page": {"offset": offset, "limit": 2, "total_count": total}}


def test_iter_list_walks_pages_until_the_total(api):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets?offset=0&limit=2", json=_page([1, 2], 0, 5))
        mock.get(f"{BASE}/pets?offset=2&limit=2", json=_page([3, 4], 2, 5))
        mock.get(f"{BASE}/pets?offset=4&limit=2", json=_page([5], 4, 5))
        assert [p.id for p in api.pets.iter_list()] == [1, 2, 3, 4, 5]
        assert len(mock.calls) == 3


def test_iter_list_without_a_total_stops_on_a_short_or_empty_page(variant, make_engine):
    table = variant(lambda doc: doc["paths"]["/pets"]["get"]["x-tinkex-pagination"].pop("total"))
    api = build_api(table)(make_engine(table))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets?offset=1&limit=3", json=_page([1, 2, 3], 1, 0))
        mock.get(f"{BASE}/pets?offset=4&limit=3", json=_page([4], 4, 0))
        assert [p.id for p in api.pets.iter_list(offset=1, limit=3)] == [1, 2, 3, 4]
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets?offset=0&limit=2", json=_page([1, 2], 0, 0))
        mock.get(f"{BASE}/pets?offset=2&limit=2", json=_page([], 2, 0))
        assert [p.id for p in api.pets.iter_list()] == [1, 2]


def test_a_future_operation_returns_its_handle_or_what_the_resolver_makes(make_engine, pet_models):
    seen = []

    class Recording:
        def resolve(self, op, submitted, started):
            seen.append((op.id, submitted, started))
            return "F"

    engine = make_engine()
    api = build_api(engine.table)(engine)
    resolving = make_engine(hooks=EngineHooks(future_resolver=lambda engine: Recording()))
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/groom", json={"job_id": "j1"})
        handle = api.pets.groom(pet_id=1)
        assert handle == pet_models.JobHandle(job_id="j1")
        assert mock.calls[0].request.body == b'{"pet_id":1,"style":"tidy"}'
        assert build_api(resolving.table)(resolving).pets.groom(pet_id=2) == "F"
    assert seen == [("groom_pet", handle, 1000.0)]


def test_header_and_query_parameters_use_wire_names_and_declared_defaults(variant, make_engine):
    def change(doc):
        doc["paths"]["/pets/{pet_id}"]["get"]["parameters"] += [
            {"name": "X-Pet-Mood", "in": "header", "schema": {"type": "string", "default": "calm"}},
            {"name": "with-tags", "in": "query", "schema": {"type": "boolean"}}]
    engine = make_engine(variant(change))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/a%2Fb", json=PET)
        engine.call("get_pet", pet_id="a/b", with_tags=True)
        request = mock.calls[0].request
    assert request.headers["X-Pet-Mood"] == "calm" and request.url.endswith("?with-tags=true")


class RecordingSequencer:
    def __init__(self) -> None:
        self.next = 10
        self.log: list[str] = []

    @contextlib.contextmanager
    def allocate(self, operation, body):
        body[operation.sequence.field] = self.next
        self.next += 1
        self.log.append("turn")
        yield
        self.log.append("done")


class RecordingDispatcher:
    def __init__(self) -> None:
        self.log: list[Any] = []

    @contextlib.contextmanager
    def acquire(self, operation, body_bytes_estimate):
        self.log.append(("acquire", operation.id, body_bytes_estimate))
        yield
        self.log.append("release")

    def note_status(self, operation, status):
        self.log.append(("status", status))


def test_sequencer_and_dispatcher_hooks_wrap_the_send(variant, pet_dir):
    def change(doc):
        groom = doc["paths"]["/groom"]["post"]
        groom["x-tinkex-sequence"] = {"field": "seq", "scope": "pet_id"}
        groom["x-tinkex-dispatch"] = "fast"
        doc["x-tinkex-dispatch-limits"] = {"fast": {"max_in_flight": 2}}
        doc["components"]["schemas"]["GroomRequest"]["properties"]["seq"] = {"type": "integer"}
        doc["components"]["schemas"]["GroomRequest"]["required"].append("seq")
    table = variant(change)
    sequencer, dispatcher = RecordingSequencer(), RecordingDispatcher()
    engine = Engine(table, ClientConfig.resolve(table, api_key=CANARY, base_url=BASE, environ={}),
                    hooks=EngineHooks(sequencer=lambda e: sequencer,
                                      dispatcher=lambda e: dispatcher))
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/groom", json={"job_id": "j"})
        engine.call("groom_pet", pet_id=3)
        engine.call("groom_pet", pet_id=3)
        bodies = [c.request.body for c in mock.calls]
    assert bodies == [b'{"pet_id":3,"seq":10}', b'{"pet_id":3,"seq":11}']
    assert sequencer.log == ["turn", "done"] * 2
    # admission is per attempt, inside the turn, charged the bytes actually sent
    assert dispatcher.log[:3] == [("acquire", "groom_pet", 21), ("status", 200), "release"]
    engine.close()
