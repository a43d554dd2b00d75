"""Read an OpenAPI document from a file, import it, and locate the warnings in that file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError
from .importer import ImportResult, import_document
from .locate import lines_of
from .yamlsource import load_plain, read_source

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class OpenAPIFileError(Exception):
    """The file cannot be read as an OpenAPI 3.x document."""


@dataclass
class LocatedImport:
    manifest: dict[str, Any]
    warnings: list[str]
    """One line each: ``file:line: json-pointer: what was not carried and why``."""
    result: ImportResult


def read_openapi(path: str | Path) -> tuple[dict[str, Any], str]:
    """The document and its text; JSON by extension (or content), YAML otherwise."""
    try:
        text = read_source(path)
        doc = json.loads(text) if _looks_json(path, text) else load_plain(str(path), text)
    except ManifestError as exc:
        raise OpenAPIFileError(str(exc)) from None
    except RecursionError:
        raise OpenAPIFileError(f"{path}: nested too deeply to be parsed") from None
    except ValueError as exc:
        raise OpenAPIFileError(f"{path}: cannot be parsed: {exc}") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise OpenAPIFileError(f"{path}: not an OpenAPI 3.x document")
    return doc, text


def _looks_json(path: str | Path, text: str) -> bool:
    return str(path).endswith(".json") or text.lstrip().startswith("{")


def import_file(path: str | Path) -> LocatedImport:
    doc, text = read_openapi(path)
    result = import_document(doc)
    lines = lines_of(text, [w.pointer for w in result.warnings], is_json=_looks_json(path, text))
    located = [w.located(str(path), lines.get(w.pointer, 1)) for w in result.warnings]
    return LocatedImport(result.manifest, located, result)


def dump_manifest(manifest: dict[str, Any]) -> str:
    return yaml.dump(manifest, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)
