"""Point a problem found in the compiled document back at the manifest construct behind it."""

from __future__ import annotations

from typing import Any

from .errors import ManifestProblem
from .yamlsource import Located

_PARTS = {"parameters": "params"}


def _split(rest: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in rest.split(".") if p]


def manifest_path(doc: dict[str, Any], where: str) -> tuple[object, ...] | None:
    """The manifest key path of a compiled-document location such as
    ``paths./pets/{id}.get.parameters.0.schema`` (None when nothing matches)."""
    if where.startswith("paths."):
        rest = where[len("paths."):]
        ops = [(p, m) for p, item in doc.get("paths", {}).items() for m in item]
        for index, (path, method) in enumerate(ops):
            prefix = f"{path}.{method}"
            if rest == prefix or rest.startswith(prefix + "."):
                tail = _split(rest[len(prefix):])
                if tail and isinstance(tail[0], str):
                    tail[0] = _PARTS.get(tail[0], tail[0].removeprefix("x-tinkex-"))
                return ("operations", index, *tail)
    if where.startswith("components.schemas."):
        rest = where[len("components.schemas."):]
        for name in sorted(doc.get("components", {}).get("schemas", {}), key=len, reverse=True):
            if rest == name or rest.startswith(name + "."):
                return ("types", name, *_split(rest[len(name):]))
    return None


def locate_problem(src: Located, doc: dict[str, Any], problem: str) -> ManifestProblem:
    where, _, message = problem.partition(": ")
    path = manifest_path(doc, where)
    if path is None:
        return ManifestProblem(src.file, 1, f"<compiled document> {where}", message)
    return src.problem(path, message)
