"""Write the ``.pyi`` stub of the low-level API that the core builds at run time.

The runtime builds one class per SDK group and one keyword-only method per
operation from the compiled document (the way botocore builds clients from its
service models); this stub gives those methods static types. Parameter names and
annotations come from the runtime's own operation table (``tinkex.core.operations``) and
annotation rules (``tinkex.core.api.Annotations``); a test (and ``mypy.stubtest``) proves the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tinkex.core.api import CALL_OPTIONS, Annotations
from tinkex.core.operations import Operation, OperationTable, build_table

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

    def __init__(self, names: set[str], schemas: dict[str, Any],
                 schema_classes: dict[str, str] | None = None):
        super().__init__(schemas, frozenset(names), schema_classes)


def _table(doc: dict[str, Any]) -> OperationTable:
    return build_table(doc)


def _op(table: OperationTable, raw: dict[str, Any]) -> Operation:
    return table[raw["operationId"]]


def signature_of(doc: dict[str, Any], op: dict[str, Any], models: Models,
                 table: OperationTable | None = None) -> list[Param]:
    """Keyword-only parameters of an operation's method, as the runtime builds them."""
    operation = _op(table or _table(doc), op)
    annotations = models.of_params(operation)
    return [Param(p.name, annotations[p.name], p.required) for p in operation.params]


def return_type(doc: dict[str, Any], op: dict[str, Any], models: Models,
                table: OperationTable | None = None) -> str:
    return models.of_result(op, _op(table or _table(doc), op))


def page_item_type(doc: dict[str, Any], op: dict[str, Any], models: Models,
                   table: OperationTable | None = None) -> str:
    return models.of_page_item(_op(table or _table(doc), op))


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
            returns: str, summary: str | None, table: OperationTable) -> list[str]:
    params = signature_of(doc, op, models, table)
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
    table = _table(doc)
    mapping = dict(table.class_names)
    models = Models(class_names if class_names is not None else set(mapping.values()), schemas,
                    mapping)
    groups_meta = doc["x-tinkex-sdk-groups"]
    by_group = operations_by_group(doc)
    body: list[str] = []
    used: set[str] = set()
    for group, ops in by_group.items():
        meta = groups_meta["groups"][group]
        body += ["", "", f"class {meta['class_name']}:"]
        if meta.get("description"):
            body.append(f'    """{_doc(meta["description"])}"""')
            body.append("")
        body.append("    def __init__(self, engine: Engine) -> None: ...")
        for op in ops:
            ret = return_type(doc, op, models, table)
            body += _method(doc, op, models, op["x-tinkex-sdk"]["method"], ret, op.get("summary"),
                            table)
            if "x-tinkex-pagination" in op:
                item = page_item_type(doc, op, models, table)
                body += _method(doc, op, models, "iter_" + op["x-tinkex-sdk"]["method"],
                                f"Iterator[{item}]",
                                f"Iterate over every item of every page of {op['operationId']}.",
                                table)
        used |= set(re.findall(r"\b[A-Z][A-Za-z0-9_]*\b", "\n".join(body))) & models.class_names
    client = groups_meta["client_class"]
    body += ["", "", f"class {client}:", f'    """{_doc(doc["info"]["title"])}: the low-level API."""',
             "", "    def __init__(self, engine: Engine) -> None: ..."]
    for group in by_group:
        cls = groups_meta["groups"][group]["class_name"]
        body += ["    @property", f"    def {group}(self) -> {cls}: ..."]
    imports = [
        f"# Generated by tinkex-codegen: typed surface of {runtime_module}; do not edit by hand.",
        "",
        "from collections.abc import Iterator, Mapping",
        "from typing import Any, Literal",
        "",
        "from tinkex.core.engine import Engine",
        "from tinkex.core.futures import APIFuture",
    ]
    if used:
        imports.append(f"from {models_module} import (")
        imports += [f"    {name}," for name in sorted(used)]
        imports.append(")")
    text = "\n".join(imports + body) + "\n"
    return text
