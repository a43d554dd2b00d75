"""Validate a compiled document: OpenAPI 3.1 itself, then every ``x-tinkex-*`` value."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import OpenAPIV31SpecValidator

from tinkex.core.model import document as model

from .extension_schemas import (
    OPERATION_EXTENSIONS,
    REQUIRED_OPERATION,
    REQUIRED_ROOT,
    ROOT_EXTENSIONS,
)


def extension_schema_bundle() -> dict[str, Any]:
    """The extension schemas as one JSON-serialisable object (shipped for the runtime)."""
    return {
        "root": ROOT_EXTENSIONS,
        "operation": OPERATION_EXTENSIONS,
        "required_root": REQUIRED_ROOT,
        "required_operation": REQUIRED_OPERATION,
    }


def validate_extensions(doc: dict[str, Any], bundle: dict[str, Any] | None = None) -> list[str]:
    """Every problem with the document's extension keys, as ``location: message`` lines.

    The rules are the runtime's (:mod:`tinkex.core.model.document`), with this
    compiler's schemas unless ``bundle`` is given.
    """
    return model.validate_extensions(doc, bundle or extension_schema_bundle())


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
    """OpenAPI's findings and the extension keys' (then, if those are sound, the references)."""
    problems = validate_openapi(doc) + validate_extensions(doc)
    return problems or model.check_references(doc)
