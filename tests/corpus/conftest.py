"""The OpenAPI corpus: real public documents, each imported, checked and built once per run."""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tinkex.codegen.build import BuildResult, build
from tinkex.codegen.openapi_file import LocatedImport, dump_manifest, import_file

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "openapi"
SMALL = ["swagger-petstore-3.0.yaml", "redocly-museum-3.1.yaml", "svix-3.0.json"]
LARGE = ["openai-3.0.yaml", "openai-3.1.json"]
"""The OpenAI documents (1.4 and 3.4 MB) build in tens of seconds: ``make corpus`` runs them."""


@dataclass
class Built:
    name: str
    imported: LocatedImport
    manifest_path: Path
    result: BuildResult
    models: ModuleType
    seconds: dict[str, float]


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves forward references through it
    spec.loader.exec_module(module)
    return module


_CACHE: dict[str, Built] = {}


def built(name: str, tmp: Path) -> Built:
    """Import, check and build one document (once per run); import its models."""
    if name in _CACHE:
        return _CACHE[name]
    start = time.perf_counter()
    imported = import_file(CORPUS / name)
    after_import = time.perf_counter()
    manifest_path = tmp / (Path(name).stem + ".yaml")
    manifest_path.write_text(dump_manifest(imported.manifest), encoding="utf-8")
    module = "corpus_" + Path(name).stem.replace("-", "_").replace(".", "_")
    result = build(manifest_path, models_module=module, runtime_module=module + "_api")
    after_build = time.perf_counter()
    (tmp / f"{module}.py").write_text(result.models_py, encoding="utf-8")
    models = _load_module(module, tmp / f"{module}.py")
    done = time.perf_counter()
    seconds = {"import": after_import - start, "build": after_build - after_import,
               "models import": done - after_build}
    _CACHE[name] = Built(name, imported, manifest_path, result, models, seconds)
    return _CACHE[name]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _CACHE:
        terminalreporter.write_line("OpenAPI corpus build times (import / check+build / models import):")
        for b in _CACHE.values():
            s = b.seconds
            terminalreporter.write_line(f"  {b.name}: {s['import']:.1f}s / {s['build']:.1f}s / "
                                        f"{s['models import']:.1f}s")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The large documents run only when asked for (``make corpus`` sets TINKEX_CORPUS=1)."""
    import os

    if os.environ.get("TINKEX_CORPUS") == "1":
        return
    skip = pytest.mark.skip(reason="large OpenAPI document: run with `make corpus`")
    for item in items:
        if item.get_closest_marker("corpus") is not None:
            item.add_marker(skip)
