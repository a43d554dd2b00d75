"""The OpenAPI corpus: real public documents, each imported, checked and built once per run.

One module shared by the tests and the conftest (whose summary prints the build times).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


CACHE: dict[str, Built] = {}


def built(name: str, tmp: Path) -> Built:
    """Import, check and build one document (once per run); import its models."""
    if name in CACHE:
        return CACHE[name]
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
    CACHE[name] = Built(name, imported, manifest_path, result, models, seconds)
    return CACHE[name]
