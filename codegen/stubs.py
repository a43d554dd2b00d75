"""Write the ``.pyi`` stub of the low-level API that the core builds at run time.

The runtime builds one class per SDK group and one keyword-only method per
operation from the compiled document (the way botocore builds clients from its
service models); this stub gives those methods static types. Parameter names and
annotations come from the runtime's own rules (``tinkex.core.operations.python_name``,
``tinkex.core.api.Annotations``); a test (and ``mypy.stubtest``) proves the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tinkex.core.api import CALL_OPTIONS, VIEWS, Annotations
from tinkex.core.operations import MULTIPART, RAW_CONTENT, file_fields, python_name

from .compile import SCHEMA_PREFIX
from .validate import HTTP_METHODS


@dataclass
class Param:
    name: str
    annotation: str
    required: bool


class Models(Annotations):
    """Annotation rules of the runtime (``tinkex.core.api``), so stub and runtime agree.

    ``names`` are the classes the models module really defines; other schemas
    (pure unions the model generator collapses) are spelled out inline.
    """

    def __init__(self, names: set[str], schemas: dict[str, Any]):
        super().__init__(schemas, frozenset(names))


def py_type(schema: Any, models: Models) -> str:
    """A Python annotation for a compiled JSON Schema."""
    return models.of(schema)


def signature_of(doc: dict[str, Any], op: dict[str, Any], models: Models) -> list[Param]:
    """Keyword-only parameters of an operation's method: path, query, header, then body fields."""
    params: list[Param] = []
    for p in op.get("parameters") or []:
        schema = p.get("schema") or {}
        required = bool(p.get("required")) and "default" not in schema
        params.append(Param(python_name(p["name"]), py_type(schema, models), required))
    encoding = (op.get("x-tinkex-body-encoding") or {}).get("type")
    if encoding == "raw":
        params.append(Param(RAW_CONTENT, "FileContent", True))
    media = MULTIPART if encoding == "multipart" else "application/json"
    body = (((op.get("requestBody") or {}).get("content") or {}).get(media) or {})
    ref = (body.get("schema") or {}).get("$ref", "")
    schemas = doc["components"]["schemas"]
    schema = schemas.get(ref.removeprefix(SCHEMA_PREFIX), {})
    files = file_fields(schema, schemas) if encoding == "multipart" else frozenset()
    seq_field = (op.get("x-tinkex-sequence") or {}).get("field")
    required_fields = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        required = name in required_fields and "default" not in prop and name != seq_field
        params.append(Param(python_name(name), models.of_field(prop, name in files), required))
    # required first (in order), then optional, like any hand-written signature
    return [p for p in params if p.required] + [p for p in params if not p.required]


def return_type(doc: dict[str, Any], op: dict[str, Any], models: Models) -> str:
    future = op.get("x-tinkex-future")
    if future:
        return f"APIFuture[{future['result']}]"
    return body_type(op, models)


def body_type(op: dict[str, Any], models: Models) -> str:
    """What the HTTP body parses to: its type, or a Stream of events."""
    stream = op.get("x-tinkex-stream")
    if stream:
        return f"Stream[{py_type({'$ref': SCHEMA_PREFIX + stream['event']}, models)}]"
    ok = (op.get("responses") or {}).get("200") or {}
    schema = ((ok.get("content") or {}).get("application/json") or {}).get("schema")
    return py_type(schema, models) if schema else "None"


def page_item_type(doc: dict[str, Any], op: dict[str, Any], models: Models) -> str:
    pag = op["x-tinkex-pagination"]
    ok = (op.get("responses") or {}).get("200") or {}
    ref = (((ok.get("content") or {}).get("application/json") or {}).get("schema") or {}).get("$ref", "")
    schema: Any = doc["components"]["schemas"].get(ref.removeprefix(SCHEMA_PREFIX), {})
    for part in pag["items"].split("."):
        schema = (schema.get("properties") or {}).get(part, {})
        if "$ref" in schema:
            schema = doc["components"]["schemas"].get(schema["$ref"].removeprefix(SCHEMA_PREFIX), {})
    return py_type(schema.get("items"), models) if isinstance(schema, dict) else "Any"


def operations_by_group(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in doc["x-tinkex-sdk-groups"]["groups"]}
    for item in doc["paths"].values():
        for method, op in item.items():
            if method in HTTP_METHODS:
                groups[op["x-tinkex-sdk"]["group"]].append(op)
    for ops in groups.values():
        ops.sort(key=lambda o: o["x-tinkex-sdk"]["method"])
    return groups


def _method(doc: dict[str, Any], op: dict[str, Any], models: Models, name: str,
            returns: str, summary: str | None) -> list[str]:
    params = signature_of(doc, op, models)
    args = ["self", "*"]
    for p in params:
        args.append(f"{p.name}: {p.annotation}" + ("" if p.required else " = ..."))
    for name_, ann in CALL_OPTIONS:
        args.append(f"{name_}: {ann} = ...")
    lines = [f"    def {name}(", *[f"        {a}," for a in args], f"    ) -> {returns}:"]
    if summary:
        lines.append(f'        """{_doc(summary)}"""')
        lines.append("        ...")
    else:
        lines[-1] += " ..."
    return lines


def _doc(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''").replace("\\", "\\\\")


def generated_class_names(models_py: str) -> set[str]:
    """Top-level class names defined by the generated models module."""
    import ast

    return {n.name for n in ast.parse(models_py).body if isinstance(n, ast.ClassDef)}


def generate_stub(doc: dict[str, Any], models_module: str, runtime_module: str,
                  class_names: set[str] | None = None) -> str:
    """Source of the ``.pyi`` for the API class that ``runtime_module`` builds at run time.

    ``class_names`` are the classes the models module really defines (default: one per schema).
    """
    schemas = doc["components"]["schemas"]
    models = Models(class_names if class_names is not None else set(schemas), schemas)
    groups_meta = doc["x-tinkex-sdk-groups"]
    by_group = operations_by_group(doc)
    body: list[str] = []
    used: set[str] = set()
    for group, ops in by_group.items():
        meta = groups_meta["groups"][group]
        for view in VIEWS:
            view_class = meta["class_name"] + view.suffix
            body += ["", "", f"class {view_class}:",
                     f'    """{meta["class_name"]} {view.doc}."""',
                     "", "    def __init__(self, engine: Engine) -> None: ..."]
            for op in ops:
                body += _method(doc, op, models, op["x-tinkex-sdk"]["method"],
                                f"{view.wrapper}[{body_type(op, models)}]", op.get("summary"))
        body += ["", "", f"class {meta['class_name']}:"]
        if meta.get("description"):
            body.append(f'    """{_doc(meta["description"])}"""')
            body.append("")
        body.append("    def __init__(self, engine: Engine) -> None: ...")
        for view in VIEWS:
            body += ["    @property",
                     f"    def {view.attribute}(self) -> {meta['class_name'] + view.suffix}: ..."]
        for op in ops:
            ret = return_type(doc, op, models)
            body += _method(doc, op, models, op["x-tinkex-sdk"]["method"], ret, op.get("summary"))
            if "x-tinkex-pagination" in op:
                item = page_item_type(doc, op, models)
                body += _method(doc, op, models, "iter_" + op["x-tinkex-sdk"]["method"],
                                f"Iterator[{item}]",
                                f"Iterate over every item of every page of {op['operationId']}.")
        used |= set(re.findall(r"\b[A-Z][A-Za-z0-9_]*\b", "\n".join(body))) & models.class_names
    client = groups_meta["client_class"]
    for view in VIEWS:
        view_client = client + view.suffix
        body += ["", "", f"class {view_client}:", f'    """{client} {view.doc}."""',
                 "", "    def __init__(self, engine: Engine) -> None: ..."]
        for group in by_group:
            cls = groups_meta["groups"][group]["class_name"] + view.suffix
            body += ["    @property", f"    def {group}(self) -> {cls}: ..."]
    body += ["", "", f"class {client}:", f'    """{_doc(doc["info"]["title"])}: the low-level API."""',
             "", "    def __init__(self, engine: Engine) -> None: ..."]
    for view in VIEWS:
        body += ["    @property", f"    def {view.attribute}(self) -> {client + view.suffix}: ..."]
    for group in by_group:
        cls = groups_meta["groups"][group]["class_name"]
        body += ["    @property", f"    def {group}(self) -> {cls}: ..."]
    imports = [
        f"# Generated by `python -m codegen`: typed surface of {runtime_module}; do not edit by hand.",
        "",
        "from collections.abc import Iterator, Mapping, Sequence",
        "from typing import Any, Literal",
        "",
        "from tinkex.core.engine import Engine",
        "from tinkex.core.futures import APIFuture",
        "from tinkex.core.raw import RawResponse",
        "from tinkex.core.streaming import Stream, StreamedRawResponse",
        "from tinkex.core.uploads import FileContent, FileInput",
    ]
    if used:
        imports.append(f"from {models_module} import (")
        imports += [f"    {name}," for name in sorted(used)]
        imports.append(")")
    text = "\n".join(imports + body) + "\n"
    return text
