"""The generated stub describes exactly the operation table of the compiled document."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tinkex.codegen.stubs import (
    CALL_OPTIONS,
    Models,
    generated_class_names,
    operations_by_group,
    signature_of,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "spec" / "openapi.json").read_text())
STUB = ast.parse((ROOT / "tinkex" / "_api.pyi").read_text())
MODELS_PY = (ROOT / "tinkex" / "types" / "_generated.py").read_text()


def _classes() -> dict[str, ast.ClassDef]:
    return {n.name: n for n in STUB.body if isinstance(n, ast.ClassDef)}


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_stub_and_shipped_copy_are_identical():
    assert (ROOT / "stubs" / "tinkex" / "_api.pyi").read_text() == \
        (ROOT / "tinkex" / "_api.pyi").read_text()


def test_every_imported_model_exists():
    names = generated_class_names(MODELS_PY)
    imported = [a.name for n in STUB.body if isinstance(n, ast.ImportFrom)
                and n.module == "tinkex.types._generated" for a in n.names]
    assert imported and set(imported) <= names, set(imported) - names


def test_client_class_has_one_property_per_group():
    groups = DOC["x-tinkex-sdk-groups"]
    client = _classes()[groups["client_class"]]
    props = {name: fn for name, fn in _methods(client).items() if fn.decorator_list}
    assert set(props) == set(groups["groups"])
    for group, meta in groups["groups"].items():
        assert ast.unparse(props[group].returns) == meta["class_name"]


@pytest.mark.parametrize("group", sorted(DOC["x-tinkex-sdk-groups"]["groups"]))
def test_group_methods_match_operations(group):
    meta = DOC["x-tinkex-sdk-groups"]["groups"][group]
    methods = _methods(_classes()[meta["class_name"]])
    ops = operations_by_group(DOC)[group]
    expected = {op["x-tinkex-sdk"]["method"] for op in ops}
    expected |= {"iter_" + op["x-tinkex-sdk"]["method"] for op in ops if "x-tinkex-pagination" in op}
    assert set(methods) - {"__init__"} == expected
    models = Models(generated_class_names(MODELS_PY), DOC["components"]["schemas"])
    for op in ops:
        fn = methods[op["x-tinkex-sdk"]["method"]]
        assert not fn.args.args[1:], "parameters are keyword-only"
        got = [(a.arg, ast.unparse(a.annotation), d is not None)
               for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True)]
        want = [(p.name, p.annotation, not p.required) for p in signature_of(DOC, op, models)]
        want += [(name, ann, True) for name, ann in CALL_OPTIONS]
        assert got == want, op["operationId"]
