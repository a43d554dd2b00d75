"""The operations the emulator serves: the core's operation table, bound for a server.

Routes, parameter checks and request models all come from the operation table
the client is built from (:func:`tinkex._spec.load_operation_table`, one
:class:`~tinkex.core.model.Operation` per path and method of
``tinkex/_spec/openapi.json``), so a change to the manifest reaches the server
through ``make regen`` like it reaches the client; the handler registry is then
checked against this table at start-up. A :class:`ServedOperation` adds only
what answering needs: the path and query parameters with their schemas' ``$ref``
inlined, the pydantic model that validates the body, and the body field that
numbers ordered requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from tinkex import types as T
from tinkex._spec import load_operation_table
from tinkex.core.model import Operation, Param


@dataclass(frozen=True)
class ServedOperation:
    """One operation of the table with what the server checks a request against."""

    operation: Operation
    params: tuple[Param, ...]
    """The path and query parameters, their ``schema`` with a top-level ``$ref`` inlined."""
    body_model: type[BaseModel] | None
    sequence_field: str | None = None
    """The body field numbering requests per model (ordered sequences only)."""


@lru_cache(maxsize=1)
def document_bytes() -> bytes:
    """The compiled OpenAPI document exactly as shipped (served at ``/openapi.json``)."""
    return resources.files("tinkex._spec").joinpath("openapi.json").read_bytes()


def _resolve(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Inline a top-level ``$ref`` (parameter schemas refer to enums such as AccessScope)."""
    ref = schema.get("$ref")
    if ref is None:
        return dict(schema)
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(doc, target), **{k: v for k, v in schema.items() if k != "$ref"}}


def _serve(doc: Mapping[str, Any], op: Operation) -> ServedOperation:
    params = tuple(replace(p, schema=_resolve(doc, p.schema))
                   for p in op.params if p.location in ("path", "query"))
    body_model = getattr(T, op.body_type) if op.body_type else None
    assert body_model is None or issubclass(body_model, BaseModel), op.body_type
    seq = op.sequence
    sequence_field = (seq.field if seq is not None and seq.ordered
                      and seq.scope == "model_id" else None)
    return ServedOperation(operation=op, params=params, body_model=body_model,
                           sequence_field=sequence_field)


@lru_cache(maxsize=1)
def operations() -> tuple[ServedOperation, ...]:
    """Every operation, from the same operation table the client is built from."""
    table = load_operation_table()
    return tuple(_serve(table.document, op) for op in table)
