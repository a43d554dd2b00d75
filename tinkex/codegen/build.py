"""The whole pipeline: manifest file -> checked -> compiled -> validated -> outputs in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .check import check_manifest
from .compile import compile_manifest
from .errors import ManifestError
from .located import locate_problem
from .models import ModelJob
from .stubs import generate_stub, generated_class_names
from .validate import extension_schema_bundle, validate_document
from .yamlsource import Located, load_yaml


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass
class BuildResult:
    manifest: dict[str, Any]
    document: dict[str, Any]
    openapi_json: str
    extensions_json: str
    models_py: str
    stub_pyi: str
    outputs: dict[str, str] = field(default_factory=dict)


def compile_file(manifest_path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load, check, compile and validate; raise ManifestError with located problems."""
    src, doc = _compile(manifest_path)
    _validate(src, doc)
    return src.data, doc


def _compile(manifest_path: str | Path) -> tuple[Located, dict[str, Any]]:
    src = load_yaml(manifest_path)
    check_manifest(src)
    return src, compile_manifest(src.data)


def _validate(src: Located, doc: dict[str, Any]) -> None:
    problems = validate_document(doc)
    if problems:
        # The manifest passed its own checks, so this is a compiler bug or a schema gap:
        # report it at the manifest construct it came from, so the user sees where to look.
        raise ManifestError([locate_problem(src, doc, p) for p in problems])


def build(manifest_path: str | Path, *, models_module: str, runtime_module: str,
          base_classes: dict[str, str] | None = None, base_class: str | None = None,
          source_name: str | None = None) -> BuildResult:
    src, doc = _compile(manifest_path)
    manifest = src.data
    source = source_name or Path(manifest_path).name
    # The model generator runs in a subprocess: validate meanwhile (each takes seconds on
    # a large document, and they need not wait for each other).
    job = ModelJob(doc, source, base_classes=base_classes, base_class=base_class)
    try:
        _validate(src, doc)
    except BaseException:
        job.cancel()
        raise
    models_py = job.result()
    return BuildResult(
        manifest=manifest,
        document=doc,
        openapi_json=dump_json(doc),
        extensions_json=dump_json(extension_schema_bundle()),
        models_py=models_py,
        stub_pyi=generate_stub(doc, models_module, runtime_module,
                               generated_class_names(models_py)),
    )
