"""Validate a compiled document: OpenAPI 3.1 itself, then every ``x-tinkex-*`` value."""

from __future__ import annotations

from typing import Any

import jsonschema
from openapi_spec_validator import OpenAPIV31SpecValidator

from .extension_schemas import (
    OPERATION_EXTENSIONS,
    REQUIRED_OPERATION,
    REQUIRED_ROOT,
    ROOT_EXTENSIONS,
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def extension_schema_bundle() -> dict[str, Any]:
    """The extension schemas as one JSON-serialisable object (shipped for the runtime)."""
    return {
        "root": ROOT_EXTENSIONS,
        "operation": OPERATION_EXTENSIONS,
        "required_root": REQUIRED_ROOT,
        "required_operation": REQUIRED_OPERATION,
    }


def _check_value(where: str, key: str, schema: dict[str, Any], value: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in validator.iter_errors(value):
        sub = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        problems.append(f"{where}{key}{sub}: {err.message}")
    return problems


def validate_extensions(doc: dict[str, Any], bundle: dict[str, Any] | None = None) -> list[str]:
    """Every problem with the document's extension keys, as ``location: message`` lines."""
    bundle = bundle or extension_schema_bundle()
    root, per_op = bundle["root"], bundle["operation"]
    problems: list[str] = []
    for key in bundle["required_root"]:
        if key not in doc:
            problems.append(f"<root>: missing required extension {key}")
    for key, value in doc.items():
        if key.startswith("x-tinkex-"):
            if key not in root:
                problems.append(f"<root>.{key}: unknown extension key")
            else:
                problems += _check_value("<root>.", key, root[key], value)
    for path, item in (doc.get("paths") or {}).items():
        for method, op in (item or {}).items():
            if method not in HTTP_METHODS or not isinstance(op, dict):
                continue
            where = f"paths.{path}.{method}."
            for key in bundle["required_operation"]:
                if key not in op:
                    problems.append(f"{where}: missing required extension {key}")
            for key, value in op.items():
                if key.startswith("x-tinkex-"):
                    if key not in per_op:
                        problems.append(f"{where}{key}: unknown extension key")
                    else:
                        problems += _check_value(where, key, per_op[key], value)
    return problems


def validate_openapi(doc: dict[str, Any]) -> list[str]:
    """openapi-spec-validator's findings (it may raise on some broken inputs: caught)."""
    try:
        return [
            f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in OpenAPIV31SpecValidator(doc).iter_errors()
        ]
    except Exception as exc:  # unresolvable refs and unknown types raise instead of reporting
        return [f"<root>: the document cannot be validated: {exc}"]


def validate_document(doc: dict[str, Any]) -> list[str]:
    return validate_openapi(doc) + validate_extensions(doc)
