"""The emulator's view of the compiled document: one :class:`Operation` per path and method.

Routes, parameter checks and request models all come from
``tinkex/_spec/openapi.json`` (the document the SDK is built from), so a change
to the manifest reaches the server through ``make regen`` like it reaches the
client; the handler registry is then checked against this table at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from tinkex import types as T
from tinkex._spec import load_operation_table


@dataclass(frozen=True)
class Param:
    """A path or query parameter with its (resolved) JSON schema."""

    name: str
    location: str
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    params: tuple[Param, ...]
    body_model: type[BaseModel] | None
    auth: bool
    sequence_field: str | None = None
    """The body field numbering requests per model (ordered sequences only)."""


@lru_cache(maxsize=1)
def document_bytes() -> bytes:
    """The compiled OpenAPI document exactly as shipped (served at ``/openapi.json``)."""
    return resources.files("tinkex._spec").joinpath("openapi.json").read_bytes()


def _resolve(doc: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Inline a top-level ``$ref`` (parameter schemas refer to enums such as AccessScope)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(doc, target), **{k: v for k, v in schema.items() if k != "$ref"}}


def _param_schemas(doc: Mapping[str, Any], path: str, method: str) -> dict[str, dict[str, Any]]:
    """Each path/query parameter's JSON schema (refs inlined), by wire name."""
    item = doc["paths"][path]
    raw = [*item.get("parameters", []), *item[method.lower()].get("parameters", [])]
    return {p["name"]: _resolve(doc, p.get("schema", {})) for p in raw}


@lru_cache(maxsize=1)
def operations() -> tuple[Operation, ...]:
    """Every operation, from the same operation table the client is built from."""
    table = load_operation_table()
    doc = table.document
    out = []
    for op in table:
        schemas = _param_schemas(doc, op.path, op.method)
        params = tuple(Param(p.wire_name, p.location, schemas[p.wire_name], p.required)
                       for p in op.params if p.location in ("path", "query"))
        body_model = getattr(T, op.body_type) if op.body_type else None
        assert body_model is None or issubclass(body_model, BaseModel), op.body_type
        seq = op.sequence
        sequence_field = (seq.field if seq is not None and seq.ordered
                          and seq.scope == "model_id" else None)
        out.append(Operation(operation_id=op.id, method=op.method, path=op.path, params=params,
                             body_model=body_model, auth=op.auth,
                             sequence_field=sequence_field))
    return tuple(out)
