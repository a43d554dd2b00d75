"""The emulator's layout by role stays true: each layer imports only the layers below it.

``errors`` and ``config`` are shared by every layer; then ``state`` (rows, files,
accepted requests), ``compute`` (the model and its threads), ``http`` (the
application, handlers, console) and ``run`` (starting it all). Every import is
counted, module level or inside a function, ``TYPE_CHECKING`` ones included: a
layer that needs another's types for annotations depends on it all the same.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tinkex" / "emulator"
EMULATOR = "tinkex.emulator"
LAYERS = ("state", "compute", "http", "run")
"""Lowest first: a layer may import those before it, never those after it."""
SHARED = {"__init__", "__main__", "config", "errors"}
"""The modules at the top of the package (the entry points and what every layer shares)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path) -> set[str]:
    """The absolute names of every module (or module attribute) ``path`` imports."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def _layer(name: str) -> str | None:
    """The layer a module of the emulator belongs to (None: shared, or not the emulator's)."""
    parts = name.split(".")
    if parts[:2] != EMULATOR.split(".") or len(parts) < 3 or parts[2] not in LAYERS:
        return None
    return parts[2]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer_or_is_shared() -> None:
    stray = [str(p.relative_to(PACKAGE)) for p in MODULES
             if p.parent == PACKAGE and p.stem not in SHARED]
    assert not stray, f"modules outside {LAYERS}: {stray} (give each its layer)"
    assert {_layer(_module_name(p)) for p in MODULES} == {None, *LAYERS}


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_no_layer_above_it(layer: str) -> None:
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    wrong = sorted(f"{_module_name(p)} imports {name}"
                   for p in MODULES if _layer(_module_name(p)) == layer
                   for name in _imported(p) if _layer(name) in above)
    assert not wrong, "\n".join(wrong)


def test_the_shared_modules_import_no_layer() -> None:
    wrong = sorted(f"{_module_name(p)} imports {name}"
                   for p in MODULES if p.parent == PACKAGE and p.stem in {"config", "errors"}
                   for name in _imported(p) if _layer(name) is not None)
    assert not wrong, "\n".join(wrong)


def test_the_layer_packages_import_nothing_themselves() -> None:
    """So the pytest plugin and ``EmulatorProcess`` load without the server's dependencies."""
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        assert not _imported(init), f"{init} imports {sorted(_imported(init))}"


def test_the_http_layer_does_not_shadow_the_standard_library() -> None:
    code = ("import tinkex.emulator.http.app, http.client, sys; "
            "assert http.__name__ == 'http' and 'tinkex' not in http.__file__, http.__file__")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_checker_sees_relative_and_absolute_imports() -> None:
    """The rule is only as good as its parser: a relative import up two levels counts."""
    handler = PACKAGE / "http" / "handlers" / "sampling.py"
    names = _imported(handler)
    assert "tinkex.emulator.http.services.Services" in names  # from ..services import
    assert "tinkex.emulator.state.store.Sampler" in names  # from tinkex.emulator.state...
    assert _layer("tinkex.emulator.http.services") == "http" and _layer("tinkex.core") is None
