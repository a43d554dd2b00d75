"""Hostile manifests: codegen answers each with one located line, at once, in little memory.

Alias bombs, deep nesting, a file that is not UTF-8, a missing file, a
directory and ``$ref`` cycles that never describe a value: ``check-manifest``
(and ``build``, which checks first) prints ``file:line: key: what`` and exits 1,
with no traceback, within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tinkex.codegen.cli import main

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = (ROOT / "tests" / "fixtures" / "petstore.yaml").read_text(encoding="utf-8")


def _bomb(levels: int) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _with_types(extra: str) -> str:
    return PETSTORE.replace("types:\n", "types:\n" + extra, 1)


Write = Callable[[Path], Path]


def _text(name: str, text: str) -> Write:
    def write(tmp: Path) -> Path:
        (tmp / name).write_text(text, encoding="utf-8")
        return tmp / name
    return write


def _bytes(name: str, data: bytes) -> Write:
    def write(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return write


CASES: list[tuple[str, Write, str]] = [
    ("alias bomb (9 levels)", _text("bomb.yaml", _bomb(9)), "aliases expand"),
    ("alias bomb (10 levels)", _text("bomb10.yaml", _bomb(10)), "aliases expand"),
    ("recursive alias", _text("self.yaml", "a: &a [*a]\n"), "refers to itself"),
    ("5000-deep flow nesting", _text("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n"),
     "nested deeper"),
    ("5000-deep block nesting",
     _text("deep2.yaml", "".join("  " * i + f"k{i}:\n" for i in range(5000)) + "  " * 5000
           + "x: 1\n"), "nested deeper"),
    ("not UTF-8", _bytes("latin1.yaml", b"api:\n  name: caf\xe9\n"), "not UTF-8"),
    ("missing file", lambda tmp: tmp / "missing.yaml", "no such file"),
    ("a directory", lambda tmp: tmp, "is a directory"),
    ("invalid YAML", _text("broken.yaml", "a: [1, 2\n"), "invalid YAML"),
    ("empty file", _text("empty.yaml", ""), "empty"),
    ("self-referencing $ref", _text("selfref.yaml", _with_types("  Loop:\n    $ref: Loop\n")),
     "$ref cycle Loop -> Loop"),
    ("two-type $ref cycle",
     _text("cycle.yaml", _with_types("  A:\n    $ref: B\n  B:\n    anyOf: [{$ref: A}]\n")),
     "$ref cycle"),
]


@pytest.mark.parametrize("command", ["check-manifest", "build"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_manifest_is_one_located_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                case: tuple[str, Write, str],
                                                command: str) -> None:
    name, write, says = case
    path = write(tmp_path)
    argv = [command, str(path)] + (["--out", str(tmp_path / "out")] if command == "build" else [])
    started = time.monotonic()
    status = main(argv)
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{path}:") and says in err, err
    assert "Traceback" not in err
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_a_recursive_type_through_items_is_fine(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    tree = ("  Tree:\n    type: object\n    properties:\n"
            "      children: {type: array, items: {$ref: Tree}}\n")
    path = tmp_path / "tree.yaml"
    path.write_text(_with_types(tree), encoding="utf-8")
    assert main(["check-manifest", str(path)]) == 0, capsys.readouterr().err


def test_a_hostile_openapi_document_is_refused_the_same_way(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    path = tmp_path / "bomb-openapi.yaml"
    path.write_text('openapi: "3.1.0"\n' + _bomb(9), encoding="utf-8")
    assert main(["import-openapi", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "aliases expand" in err and len(err.splitlines()) == 1
