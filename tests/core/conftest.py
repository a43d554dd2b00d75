"""Fixtures for the core tests: the petstore API compiled into a temporary directory,
engines with a fake clock (no test really sleeps), and document variants."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tinkex.codegen.build import build
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine, EngineHooks
from tinkex.core.model.operations import OperationTable
from tinkex.core.ratelimit import RateLimiterRegistry

from .loopback import LoopbackServer, serving, thread_guard

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = ROOT / "tests" / "fixtures" / "petstore.yaml"
CANARY = "pet-CANARY-123456"
BASE = "http://pets.test"

RUNTIME_MODULE = '''"""Runtime side of petstore_api.pyi: the classes the core builds from the document."""
from pathlib import Path

import petstore_models
from tinkex.core.api import api_classes

globals().update(api_classes(Path(__file__).with_name("openapi.json"), models=petstore_models,
                             module=__name__))
'''


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="session")
def pet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """openapi.json, extensions.schema.json, petstore_models.py, petstore_api.pyi/.py."""
    out = tmp_path_factory.mktemp("petstore")
    result = build(PETSTORE, models_module="petstore_models", runtime_module="petstore_api")
    (out / "openapi.json").write_text(result.openapi_json)
    (out / "extensions.schema.json").write_text(result.extensions_json)
    (out / "petstore_models.py").write_text(result.models_py)
    (out / "petstore_api.pyi").write_text(result.stub_pyi)
    (out / "petstore_api.py").write_text(RUNTIME_MODULE)
    return out


@pytest.fixture(scope="session")
def pet_doc(pet_dir: Path) -> dict[str, Any]:
    return json.loads((pet_dir / "openapi.json").read_text())


@pytest.fixture(scope="session")
def schemas(pet_dir: Path) -> dict[str, Any]:
    """The extension-schema bundle shipped with the build."""
    return json.loads((pet_dir / "extensions.schema.json").read_text())


@pytest.fixture(scope="session")
def pet_table(pet_dir: Path) -> OperationTable:
    return OperationTable.load(pet_dir / "openapi.json")


@pytest.fixture(scope="session")
def pet_models(pet_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("petstore_models", pet_dir / "petstore_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["petstore_models"] = module  # pydantic resolves forward references through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def variant(pet_doc: dict[str, Any], schemas: dict[str, Any]
            ) -> Callable[[Callable[[dict[str, Any]], None]], OperationTable]:
    """A table of the petstore document after ``change(doc)`` edits a copy of it."""
    def make(change: Callable[[dict[str, Any]], None]) -> OperationTable:
        doc = copy.deepcopy(pet_doc)
        change(doc)
        return OperationTable.load(doc, extension_schemas=schemas)
    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_engine(pet_table: OperationTable, pet_models: ModuleType,
                clock: FakeClock) -> Iterator[Callable[..., Engine]]:
    """Engines on the fake clock (random() = 0: no jitter), closed after the test."""
    engines: list[Engine] = []
    rate_limiters = RateLimiterRegistry()  # shared by this test's engines, and by no other test

    def make(table: OperationTable | None = None, *, random: Callable[[], float] = lambda: 0.0,
             base_url: str = BASE, api_key: str = CANARY, environ: dict[str, str] | None = None,
             hooks: EngineHooks | None = None, **config: Any) -> Engine:
        table = table or pet_table
        cfg = ClientConfig.resolve(table, api_key=api_key, base_url=base_url,
                                   environ=environ or {}, **config)
        engine = Engine(table, cfg, models_module=pet_models, sleep=clock.sleep, clock=clock,
                        random=random, rate_limiters=rate_limiters, hooks=hooks)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture(autouse=True)
def _no_thread_leak() -> Iterator[None]:
    """Every core test ends with exactly the threads it started with."""
    yield from thread_guard()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A scriptable loopback HTTP server (modules may define their own ``server``)."""
    yield from serving()
