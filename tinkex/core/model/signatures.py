"""The shape of the low-level API: its classes, properties and method signatures.

One description, read twice: ``tinkex.core.api`` builds the classes from it at
run time and ``tinkex.codegen.stubs`` writes the ``.pyi`` from it, so the stub
and the runtime agree by construction. Annotations are strings (the stub's
spelling), naming only model classes that really exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..options import NOT_GIVEN
from .document import SCHEMA_PREFIX
from .naming import CALL_OPTIONS
from .operations import RAW_CONTENT, Operation, OperationTable

__all__ = ["CALL_OPTIONS", "VIEWS", "Annotations", "ApiClass", "Method", "Param",
           "PassThroughMethod", "Property", "View", "api_shape", "operation_params",
           "pass_through_methods"]

REQUIRED: Any = object()
"""The default of a parameter that has none (the caller must pass it)."""


class Annotations:
    """Annotation strings for JSON Schemas, naming only the model classes that really exist.

    A schema without a class of its own (the model generator collapses pure
    unions) is spelled out inline.
    """

    def __init__(self, schemas: Mapping[str, Any], class_names: frozenset[str],
                 schema_classes: Mapping[str, str] | None = None, *,
                 enums_as_literals: bool = False) -> None:
        self.schemas = schemas
        self.enums_as_literals = enums_as_literals
        """Spell an enum schema as its ``Literal[...]`` values, not its class."""
        self._parameter = False  # while annotating a parameter: an enum takes its values too
        self.class_names = class_names
        """Classes the models module really defines."""
        self.schema_classes = schema_classes or {name: name for name in schemas}
        """Class name of each schema (``naming.class_names``)."""
        self._expanding: set[str] = set()

    def of(self, schema: Any) -> str:
        if not isinstance(schema, Mapping):
            return "Any"
        if "$ref" in schema:
            return self._of_ref(schema["$ref"].removeprefix(SCHEMA_PREFIX))
        if "const" in schema:
            return f"Literal[{schema['const']!r}]"
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return _union([self.of(s) for s in schema[key]])
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.of(schema["allOf"][0])
        if "enum" in schema:
            if all(isinstance(v, (str, int, bool)) or v is None for v in schema["enum"]):
                return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
            return "Any"
        return self._of_type(schema)

    def _of_ref(self, name: str) -> str:
        cls = self.schema_classes.get(name, name)
        target = self.schemas.get(name)
        enum = isinstance(target, Mapping) and "enum" in target
        if cls in self.class_names and not (self.enums_as_literals and enum):
            if enum and self._parameter and isinstance(target, Mapping):  # pydantic takes either
                return f"{cls} | {self.of({'enum': target['enum']})}"
            return str(cls)
        if target is None or name in self._expanding:  # a cycle without a class: give up
            return "Any"
        self._expanding.add(name)
        try:
            return self.of(target)
        finally:
            self._expanding.discard(name)

    def _of_type(self, schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union([self.of({**schema, "type": t}) for t in kind])
        simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
                  "null": "None"}
        if kind in simple:
            return simple[kind]
        if kind == "array":
            return f"list[{self.of(schema.get('items'))}]"
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and not schema.get("properties"):
                return f"dict[str, {self.of(extra)}]"
            return "dict[str, Any]"
        return "Any"

    def of_params(self, op: Operation) -> dict[str, str]:
        """Annotation of each keyword of ``op`` (by Python name).

        An enum parameter takes its class or its values; an optional one without a
        default takes None too (sent as null where the schema allows it, else left out).
        """
        files = op.body_encoding.file_fields if op.body_encoding else frozenset()
        self._parameter = True
        try:
            out = {p.name: self.of_field(p.schema, p.location == "body" and p.wire_name in files)
                   for p in op.params}
        finally:
            self._parameter = False
        for p in op.params:
            if not p.required and p.default is None and "None" not in out[p.name].split(" | "):
                out[p.name] += " | None"
        if op.body_encoding is not None and op.body_encoding.type == "raw":
            out[RAW_CONTENT] = "FileContent"
        return out

    def of_field(self, schema: Any, file: bool) -> str:
        """A body field's annotation; a multipart file field takes any FileInput."""
        if not file:
            return self.of(schema)
        return "Sequence[FileInput]" if isinstance(schema, dict) and schema.get("type") == "array" \
            else "FileInput"

    def of_result(self, op: Operation) -> str:
        if op.future is not None:
            return f"APIFuture[{self.of({'$ref': SCHEMA_PREFIX + op.future.result_type})}]"
        return self.of_body(op)

    def of_body(self, op: Operation) -> str:
        """What the HTTP body parses to: its type, or a Stream of events."""
        if op.stream is not None:
            return f"Stream[{self.of({'$ref': SCHEMA_PREFIX + op.stream.event_type})}]"
        return self.of(op.result_schema) if op.result_schema else "None"

    def of_page_item(self, op: Operation) -> str:
        assert op.pagination is not None
        schema: Any = self.schemas.get(op.result_type or "", {})
        for part in op.pagination.items.split("."):
            schema = (schema.get("properties") or {}).get(part, {})
            if "$ref" in schema:
                schema = self.schemas.get(schema["$ref"].removeprefix(SCHEMA_PREFIX), {})
        return self.of(schema.get("items")) if isinstance(schema, dict) else "Any"


def _union(parts: list[str]) -> str:
    seen = list(dict.fromkeys(parts))
    if "None" in seen:  # None last, the usual spelling
        seen.remove("None")
        seen.append("None")
    return " | ".join(seen)


def one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


# ---- the shape of the API ---------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A keyword-only parameter: its name, annotation and default (``REQUIRED`` if none)."""

    name: str
    annotation: str
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def default_source(self) -> str:
        """The default as a stub spells it: ``NOT_GIVEN``, a literal, or ``...``."""
        if self.default is NOT_GIVEN:
            return "NOT_GIVEN"
        if self.default is None or isinstance(self.default, (bool, int, float, str)):
            return repr(self.default)
        return "..."


@dataclass(frozen=True)
class Method:
    """One method: it calls ``engine_method`` for ``operation`` (``iterate``: walks its pages)."""

    name: str
    params: tuple[Param, ...]
    """The operation's keywords, then the per-call options."""
    returns: str
    doc: str | None
    operation: Operation
    engine_method: str = "call"
    iterate: bool = False


@dataclass(frozen=True)
class Property:
    """A read-only property returning an instance of ``returns`` (built from the engine).

    ``member`` properties return the instance made once in ``__init__``; the
    others make a new one on each access.
    """

    name: str
    returns: str
    member: bool


@dataclass(frozen=True)
class ApiClass:
    name: str
    doc: str | None
    properties: tuple[Property, ...]
    methods: tuple[Method, ...]


@dataclass(frozen=True)
class View:
    """A second face of every group: the same methods, returning the response itself."""

    attribute: str
    """``api.<attribute>.<group>`` and ``api.<group>.<attribute>``."""
    suffix: str
    """``<Group><suffix>`` is the class of ``api.<group>.<attribute>``."""
    engine_method: str
    wrapper: str
    """The annotation of each method: ``<wrapper>[<what the body parses to>]``."""
    doc: str


VIEWS = (
    View("with_raw_response", "WithRawResponse", "call_raw", "RawResponse",
         "returning raw responses"),
    View("with_streaming_response", "WithStreamingResponse", "call_streamed",
         "StreamedRawResponse", "returning responses whose body is not read yet"),
)


def operation_params(op: Operation, annotations: Mapping[str, str]) -> tuple[Param, ...]:
    """An operation's keywords in a method signature: an optional one defaults to NOT_GIVEN.

    The manifest's default of an optional parameter is not repeated in the
    signature: the engine fills it in for an argument that is not given.
    """
    return tuple(Param(p.name, annotations[p.name]) if p.required
                 else Param(p.name, f"{annotations[p.name]} | NotGiven", NOT_GIVEN)
                 for p in op.params)


def _params(op: Operation, annotations: Mapping[str, str]) -> tuple[Param, ...]:
    """The operation's keywords, then the per-call options."""
    return operation_params(op, annotations) + tuple(Param(name, ann, None)
                                                     for name, ann in CALL_OPTIONS)


def _group_methods(ops: list[Operation], types: Annotations, view: View | None
                   ) -> list[Method]:
    methods = []
    for op in ops:
        params = _params(op, types.of_params(op))
        if view is not None:
            methods.append(Method(op.sdk_method, params, f"{view.wrapper}[{types.of_body(op)}]",
                                  one_line(op.summary), op, view.engine_method))
            continue
        methods.append(Method(op.sdk_method, params, types.of_result(op), one_line(op.summary),
                              op))
        if op.pagination is not None:
            methods.append(Method(f"iter_{op.sdk_method}", params,
                                  f"Iterator[{types.of_page_item(op)}]",
                                  f"Iterate over every item of every page of {op.id}.", op,
                                  iterate=True))
    return methods


def api_shape(table: OperationTable, class_names: frozenset[str] | None = None
              ) -> tuple[ApiClass, ...]:
    """Every class of the low-level API, each after the classes it refers to.

    Per SDK group: its views, then the group class; then the client's views,
    then the client class. ``class_names`` are the model classes that exist
    (default: one per schema).
    """
    schemas = (table.document.get("components") or {}).get("schemas") or {}
    names = class_names if class_names is not None else frozenset(table.class_names.values())
    types = Annotations(schemas, names, table.class_names)
    out: list[ApiClass] = []
    for group in table.groups:
        ops = sorted((op for op in table if op.sdk_group == group.name), key=lambda o: o.sdk_method)
        for view in VIEWS:
            out.append(ApiClass(group.class_name + view.suffix, f"{group.class_name} {view.doc}.",
                                (), tuple(_group_methods(ops, types, view))))
        views = tuple(Property(v.attribute, group.class_name + v.suffix, member=False)
                      for v in VIEWS)
        out.append(ApiClass(group.class_name, one_line(group.description), views,
                            tuple(_group_methods(ops, types, None))))
    client = table.client_class
    for view in VIEWS:
        members = tuple(Property(g.name, g.class_name + view.suffix, member=True)
                        for g in table.groups)
        out.append(ApiClass(client + view.suffix, f"{client} {view.doc}.", members, ()))
    props = tuple(Property(v.attribute, client + v.suffix, member=False) for v in VIEWS)
    props += tuple(Property(g.name, g.class_name, member=True) for g in table.groups)
    out.append(ApiClass(client, f"{one_line(table.api.title)}: the low-level API.", props, ()))
    return tuple(out)


# ---- pass-through methods of domain clients (``x-tinkex-sdk.client``) ----------------------


@dataclass(frozen=True)
class PassThroughMethod:
    """A domain client's method that only calls one operation: positional parameters in the
    operation's order, enums as their literal values, an optional one without a default
    is None (not sent); ``returns`` is what the call answers (the client wraps it)."""

    client: str
    name: str
    params: tuple[Param, ...]
    returns: str
    doc: str | None
    operation: Operation


def pass_through_methods(table: OperationTable, class_names: frozenset[str] | None = None
                         ) -> dict[str, tuple[PassThroughMethod, ...]]:
    """The pass-through methods of each domain client class, by class, sorted by name."""
    schemas = (table.document.get("components") or {}).get("schemas") or {}
    names = class_names if class_names is not None else frozenset(table.class_names.values())
    types = Annotations(schemas, names, table.class_names, enums_as_literals=True)
    out: dict[str, list[PassThroughMethod]] = {}
    for op in sorted(table, key=lambda o: o.sdk_method):
        if op.sdk_client is None:
            continue
        annotations = types.of_params(op)
        params = []
        for p in op.params:
            annotation = annotations[p.name]
            if p.required:
                params.append(Param(p.name, annotation))
            elif p.default is None:
                params.append(Param(p.name, annotation, None))
            else:
                params.append(Param(p.name, annotation, p.default))
        out.setdefault(op.sdk_client, []).append(PassThroughMethod(
            op.sdk_client, op.sdk_method, tuple(params), types.of_result(op),
            one_line(op.summary), op))
    return {client: tuple(methods) for client, methods in sorted(out.items())}
