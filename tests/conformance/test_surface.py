"""tinkex offers every public name, method and parameter of the official SDK 0.38.0.

``surface.py`` describes a package (names, client methods and their parameters,
types and their fields, module paths); it runs in the official SDK's cached
venv and here, and every official entry must have its counterpart in tinkex:

* every top-level name, every ``types`` name, every name of the submodules
  scripts import from (``types.*``, ``lib.public_interfaces``, ``auth``);
* every public method of the clients and of ``APIFuture``, a coroutine function
  where the official one is, with every parameter: same name, same position
  for positional parameters, same default (tinkex may add parameters that have
  defaults);
* every field and public member of every type; dataclass types stay dataclasses.

Deliberate differences are listed in ``ALLOWED`` with their reasons.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from surface import describe
from test_official_sdk import INSTALL_TIMEOUT, official_sdk_python

HERE = Path(__file__).parent
VERSION = "0.38.0"

ALLOWED: dict[str, str] = {
    "top:resources": "the raw Stainless resource classes; tinkex's low-level API is "
                     "tinkex._api.TinkerAPI, built from the manifest",
    "top:APIResponse": "Stainless raw-response wrapper of the resource classes above",
    "top:AsyncAPIResponse": "Stainless raw-response wrapper of the resource classes above",
    "ServiceClient.holder": "the official SDK's internal connection holder (an asyncio loop "
                            "thread); tinkex has no such object",
    "SamplingClient.create": "internal constructor that takes the official connection holder",
    "types.*.validate_*": "pydantic field-validator hooks of the official models, not API",
    "types.*.serialize_*": "pydantic field-serializer hooks of the official models, not API",
}


@pytest.fixture(scope="module")
def surfaces() -> tuple[dict[str, Any], dict[str, Any]]:
    python = official_sdk_python(VERSION)
    run = subprocess.run([str(python), str(HERE / "surface.py"), "tinker"], capture_output=True,
                         text=True, timeout=300, cwd=HERE)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout), describe("tinkex")


def _missing_names(official: list[str], ours: list[str], where: str) -> list[str]:
    have = set(ours)
    return [f"{where}:{name}" for name in official if name not in have]


def _param_problems(where: str, off: list[dict[str, Any]] | None,
                    ours: list[dict[str, Any]] | None) -> list[str]:
    if off is None or ours is None:
        return []
    variadic = {"VAR_POSITIONAL", "VAR_KEYWORD"}
    mine = {p["name"]: (i, p) for i, p in enumerate(ours)}
    takes_any_keyword = any(p["kind"] == "VAR_KEYWORD" for p in ours)
    problems = []
    for index, p in enumerate(off):
        if p["name"].startswith("_") or p["kind"] in variadic:
            continue
        if p["name"] not in mine:
            if not takes_any_keyword or p["kind"] == "POSITIONAL_ONLY":
                problems.append(f"{where}: no parameter {p['name']!r}")
            continue
        my_index, q = mine[p["name"]]
        if p["kind"] != "KEYWORD_ONLY" and (my_index != index or q["kind"] == "KEYWORD_ONLY"):
            problems.append(f"{where}: {p['name']!r} is positional #{index} there, "
                            f"#{my_index} ({q['kind']}) here")
        if p["default"] != q["default"] and not (p["default"] is None and q["default"]):
            problems.append(f"{where}: {p['name']!r} defaults to {p['default']} there, "
                            f"{q['default']} here")
    for name, (_, q) in mine.items():
        official_names = {p["name"] for p in off}
        if name not in official_names and q["default"] is None and q["kind"] not in variadic \
                and name != "self":
            problems.append(f"{where}: extra required parameter {name!r}")
    return problems


def _client_problems(off: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems = []
    for cls, methods in off["classes"].items():
        mine = ours["classes"].get(cls)
        if mine is None:
            problems.append(f"top:{cls}")
            continue
        for name, info in methods.items():
            where = f"{cls}.{name}"
            if name not in mine:
                problems.append(where)
                continue
            if info["kind"] == "attribute":
                continue
            got = mine[name]
            if info.get("coroutine") and not got.get("coroutine"):
                problems.append(f"{where}: not a coroutine function")
            problems += _param_problems(where, info.get("params"), got.get("params"))
    return problems


def _type_problems(off: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems = []
    for name, info in off["type_classes"].items():
        mine = ours["type_classes"].get(name)
        if mine is None:
            continue  # reported as a missing types name
        if info["dataclass"] and not mine["dataclass"]:
            problems.append(f"types.{name}: not a dataclass")
        have = set(mine["fields"]) | set(mine["members"])
        problems += [f"types.{name}.{f}" for f in info["fields"] + info["members"]
                     if f not in have]
    return problems


def _problems(off: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    problems = _missing_names(off["top"], ours["top"], "top")
    problems += _missing_names(off["types"], ours["types"], "types")
    for module, names in off["modules"].items():
        if module not in ours["modules"]:
            problems.append(f"module:{module}")
            continue
        problems += _missing_names(names, ours["modules"][module], f"module:{module}")
    problems += _client_problems(off, ours)
    problems += _type_problems(off, ours)
    return problems


def _key(problem: str) -> str:
    return problem if problem.startswith(("top:", "types:", "module:")) \
        else problem.split(":", 1)[0]


def _allowed(problem: str) -> bool:
    return any(fnmatch.fnmatchcase(_key(problem), pattern) for pattern in ALLOWED)


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_tinkex_has_the_official_surface(surfaces: tuple[dict[str, Any], dict[str, Any]]) -> None:
    official, ours = surfaces
    problems = [p for p in _problems(official, ours) if not _allowed(p)]
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems)


@pytest.mark.conformance
def test_the_allowlist_is_short_and_still_needed(
        surfaces: tuple[dict[str, Any], dict[str, Any]]) -> None:
    official, ours = surfaces
    found = {_key(p) for p in _problems(official, ours)}
    stale = [pattern for pattern in ALLOWED
             if not any(fnmatch.fnmatchcase(key, pattern) for key in found)]
    assert not stale, f"allowlist entries that are no longer differences: {stale}"
    assert len(ALLOWED) <= 12
