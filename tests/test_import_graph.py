"""No import cycles in tinkex, and each module imports on its own.

The graph counts every ``import`` the interpreter may run: module level and
inside functions (a function-level import that dodges a cycle is still the
cycle), not those under ``if TYPE_CHECKING:``. The model package imports no
HTTP library.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinkex"

def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.ImportFrom, is_package: bool) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix
            for a in node.names]


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                walk_else(child)
                continue
            if isinstance(child, ast.ImportFrom):
                found.update(_targets(module, child, path.name == "__init__.py"))
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            walk(child)

    def walk_else(node: ast.If) -> None:
        for child in node.orelse:
            walk(ast.Module(body=[child], type_ignores=[]))

    walk(ast.parse(path.read_text(encoding="utf-8")))
    return found


GRAPH = {m: {t for t in _imports(m) if t in MODULES and t != m} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def test_the_model_package_imports_no_http_library():
    reached: set[str] = set()
    todo = [m for m in MODULES if m.startswith("tinkex.core.model")]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        todo += [t for t in _imports(module) if t in MODULES]
        third_party = {t.split(".")[0] for t in _imports(module) if t not in MODULES}
        assert not third_party & {"requests", "urllib3", "starlette", "uvicorn", "httpx"}, module
    assert "tinkex.core.transport" not in reached and "tinkex.core.engine" not in reached


ALONE = sorted(m for m in MODULES if m.count(".") == 1 and m != "tinkex._api")
"""The domain's modules (the core's and the emulator's are covered by the graph test)."""

_IMPORT_EACH = """
import os, sys
import numpy, pydantic, requests, jsonschema, starlette.applications  # shared, not under test
failed, running, todo = [], {}, list(sys.argv[1:])
while todo or running:
    while todo and len(running) < 2:  # two at a time
        name = todo.pop()
        pid = os.fork()
        if pid == 0:
            try:
                __import__(name)
            except BaseException as exc:
                print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
                os._exit(1)
            os._exit(0)
        running[pid] = name
    pid, status = os.wait()
    if os.waitstatus_to_exitcode(status) != 0:
        failed.append(running[pid])
    del running[pid]
print("FAILED", *failed)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_each_module_imports_alone():
    """Every top-level, core and handler module, first thing in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *ALONE], capture_output=True,
                            text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("FAILED"), result.stdout
