"""Build the low-level API classes from the operation table, the way botocore builds clients.

One class per SDK group (``x-tinkex-sdk-groups``), with one keyword-only method
per operation and an ``iter_<method>`` for paginated ones, and a client class
with a read-only property per group. Names, parameters, defaults, annotations
and docstrings follow the rules of the generated ``.pyi`` stub
(``tinkex/codegen/stubs.py`` writes it from this module's rules and the same operation
table), so the stub describes exactly what exists at run time; a test runs
``mypy.stubtest`` to prove it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .document import SCHEMA_PREFIX, Source
from .engine import Engine
from .naming import CALL_OPTIONS
from .operations import JSON, Operation, OperationTable, load_table, success_response
from .pagination import iter_items

__all__ = ["CALL_OPTIONS", "Annotations", "api_classes", "build_api", "model_class_names"]

_KW = inspect.Parameter.KEYWORD_ONLY
_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)


class Annotations:
    """Annotation strings for JSON Schemas, naming only the model classes that really exist.

    A schema without a class of its own (the model generator collapses pure
    unions) is spelled out inline, as the stub does.
    """

    def __init__(self, schemas: Mapping[str, Any], class_names: frozenset[str],
                 schema_classes: Mapping[str, str] | None = None) -> None:
        self.schemas = schemas
        self.class_names = class_names
        """Classes the models module really defines."""
        self.schema_classes = schema_classes or {name: name for name in schemas}
        """Class name of each schema (``tinkex.core.naming.class_names``)."""
        self._expanding: set[str] = set()

    def of(self, schema: Any) -> str:
        if not isinstance(schema, Mapping):
            return "Any"
        if "$ref" in schema:
            name = schema["$ref"].removeprefix(SCHEMA_PREFIX)
            cls = self.schema_classes.get(name, name)
            if cls in self.class_names:
                return str(cls)
            target = self.schemas.get(name)
            if target is None or name in self._expanding:  # a cycle without a class: give up
                return "Any"
            self._expanding.add(name)
            try:
                return self.of(target)
            finally:
                self._expanding.discard(name)
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
        """Annotation of each keyword of ``op`` (by Python name)."""
        return {p.name: self.of(p.schema) for p in op.params}

    def of_result(self, raw: Mapping[str, Any], op: Operation) -> str:
        if op.future is not None:
            return f"APIFuture[{self.of({'$ref': SCHEMA_PREFIX + op.future.result_type})}]"
        schema = _ok_schema(raw)
        return self.of(schema) if schema else "None"

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


def _ok_schema(raw: Mapping[str, Any]) -> Any:
    ok = success_response(raw)[1].get("content") or {}
    return (ok.get(JSON) or {}).get("schema")


def _doc(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _method(op: Operation, class_name: str, annotations: Mapping[str, str], returns: str,
            paginated: bool) -> Callable[..., Any]:
    op_id = op.id
    if paginated:
        def method(self: Any, **kwargs: Any) -> Any:
            return iter_items(self._engine, op, kwargs)
        name = f"iter_{op.sdk_method}"
        doc: str | None = f"Iterate over every item of every page of {op.id}."
    else:
        def method(self: Any, **kwargs: Any) -> Any:
            return self._engine.call(op_id, **kwargs)
        name, doc = op.sdk_method, _doc(op.summary)
    params = [_SELF]
    for p in op.params:
        default = inspect.Parameter.empty if p.required else p.default
        params.append(inspect.Parameter(p.name, _KW, default=default,
                                        annotation=annotations[p.name]))
    params += [inspect.Parameter(option, _KW, default=None, annotation=ann)
               for option, ann in CALL_OPTIONS]
    method.__name__ = name
    method.__qualname__ = f"{class_name}.{name}"
    method.__doc__ = doc
    method.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    return method


def _group_init(class_name: str) -> Callable[..., None]:
    def __init__(self: Any, engine: Engine) -> None:
        self._engine = engine
    __init__.__qualname__ = f"{class_name}.__init__"
    return __init__


def _client_init(class_name: str, groups: Mapping[str, type]) -> Callable[..., None]:
    def __init__(self: Any, engine: Engine) -> None:
        self._groups = {name: cls(engine) for name, cls in groups.items()}
    __init__.__qualname__ = f"{class_name}.__init__"
    return __init__


def _group_property(name: str, owner: str, group_class: str) -> property:
    def get(self: Any) -> Any:
        return self._groups[name]
    get.__name__ = name
    get.__qualname__ = f"{owner}.{name}"
    get.__annotations__ = {"return": group_class}
    return property(get)


def model_class_names(models: ModuleType | Mapping[str, Any]) -> frozenset[str]:
    """Names of the classes a generated models module (or name -> class mapping) defines."""
    if isinstance(models, ModuleType):
        return frozenset(name for name, obj in vars(models).items()
                         if isinstance(obj, type) and obj.__module__ == models.__name__)
    return frozenset(name for name, obj in models.items() if isinstance(obj, type))


def api_classes(source: OperationTable | Source, *,
                models: ModuleType | Mapping[str, Any] | None = None,
                module: str = __name__) -> dict[str, type]:
    """Every class of the low-level API by name: the group classes, then the client class.

    ``models`` (the generated models) decides which schemas annotations name;
    without it every schema is assumed to have a class. ``module`` becomes the
    classes' ``__module__``: the module that exposes them (and that the stub describes).
    """
    table = load_table(source)
    schemas = (table.document.get("components") or {}).get("schemas") or {}
    names = (model_class_names(models) if models is not None
             else frozenset(table.class_names.values()))
    types = Annotations(schemas, names, table.class_names)
    classes: dict[str, type] = {}
    for group in table.groups:
        ops = sorted((op for op in table if op.sdk_group == group.name), key=lambda o: o.sdk_method)
        namespace: dict[str, Any] = {"__slots__": ("_engine",),
                                     "__init__": _group_init(group.class_name),
                                     "__doc__": _doc(group.description), "__module__": module}
        for op in ops:
            raw = table.document["paths"][op.path][op.method.lower()]
            params = types.of_params(op)
            namespace[op.sdk_method] = _method(op, group.class_name, params,
                                               types.of_result(raw, op), paginated=False)
            if op.pagination is not None:
                namespace[f"iter_{op.sdk_method}"] = _method(
                    op, group.class_name, params, f"Iterator[{types.of_page_item(op)}]",
                    paginated=True)
        classes[group.class_name] = type(group.class_name, (), namespace)
    groups = {g.name: classes[g.class_name] for g in table.groups}
    client = table.client_class
    namespace = {"__slots__": ("_groups",), "__init__": _client_init(client, groups),
                 "__module__": module,
                 "__doc__": f"{_doc(table.api.title)}: the low-level API."}
    for group in table.groups:
        namespace[group.name] = _group_property(group.name, client, group.class_name)
    classes[client] = type(client, (), namespace)
    return classes


def build_api(source: OperationTable | Source, *,
              models: ModuleType | Mapping[str, Any] | None = None,
              module: str = __name__) -> type:
    """The client class of the low-level API: ``Client(engine).<group>.<method>(**kwargs)``."""
    table = load_table(source)
    return api_classes(table, models=models, module=module)[table.client_class]
