"""Point a problem found in the compiled document back at the manifest construct behind it."""

from __future__ import annotations

import re
from typing import Any

from .compile import OPERATION_KEYS, ROOT_SECTIONS
from .errors import ManifestProblem
from .yamlsource import Located

_PARTS = {"parameters": "params", "requestBody": "body", "responses.200": "result"}
_ROOT_KEYS = {key: section for section, key in ROOT_SECTIONS.items()}
_OPERATION_KEYS = {key: name for name, key in OPERATION_KEYS.items()}
_EXTENSION = re.compile(r"x-tinkex-[a-z-]+")


_INDEXED = re.compile(r"^(.+?)((?:\[\d+\])+)$")


def _split(rest: str) -> list[object]:
    """Key path parts of ``a.b[2].c`` or ``a.b.2.c``: ``a``, ``b``, ``2``, ``c``."""
    parts: list[object] = []
    for p in rest.split("."):
        indexed = _INDEXED.match(p)
        if indexed:
            parts.append(indexed[1])
            parts += [int(i) for i in re.findall(r"\d+", indexed[2])]
        elif p:
            parts.append(int(p) if p.isdigit() else p)
    return parts


def _operation_index(manifest: dict[str, Any] | None, doc: dict[str, Any], path: str,
                     method: str) -> int:
    if manifest is None:  # the document's order (the manifest's, unless paths repeat)
        ops = [(p, m) for p, item in doc.get("paths", {}).items() for m in item]
        return ops.index((path, method))
    return next(i for i, op in enumerate(manifest.get("operations") or [])
                if isinstance(op, dict) and op.get("path") == path
                and str(op.get("method", "")).lower() == method)


def _operation_tail(rest: str) -> list[object]:
    for part, name in _PARTS.items():
        if rest == "." + part or rest.startswith(f".{part}."):
            return [name, *_split(rest[len(part) + 1:])]
    tail = _split(rest)
    if tail and isinstance(tail[0], str):
        tail[0] = _OPERATION_KEYS.get(tail[0], tail[0].removeprefix("x-tinkex-"))
    return tail


def manifest_path(doc: dict[str, Any], where: str, manifest: dict[str, Any] | None = None
                  ) -> tuple[object, ...] | None:
    """The manifest key path of a compiled-document location such as
    ``paths./pets/{id}.get.parameters.0.schema`` or ``<root>.x-tinkex-defaults.pool``
    (None when nothing matches)."""
    if where.startswith("<root>."):
        key, _, rest = where[len("<root>."):].partition(".")
        return (_ROOT_KEYS[key], *_split(rest)) if key in _ROOT_KEYS else None
    if where.startswith("paths."):
        rest = where[len("paths."):]
        ops = [(p, m) for p, item in doc.get("paths", {}).items() for m in item]
        for path, method in ops:
            prefix = f"{path}.{method}"
            if rest == prefix or rest.startswith(prefix + "."):
                index = _operation_index(manifest, doc, path, method)
                return ("operations", index, *_operation_tail(rest[len(prefix):]))
    if where.startswith("components.schemas."):
        rest = where[len("components.schemas."):]
        for name in sorted(doc.get("components", {}).get("schemas", {}), key=len, reverse=True):
            if rest == name or rest.startswith(name + "."):
                return ("types", name, *_split(rest[len(name):]))
    return None


def locate_problem(src: Located, doc: dict[str, Any], problem: str) -> ManifestProblem:
    where, _, message = problem.partition(": ")
    path = manifest_path(doc, where, src.data)
    message = _EXTENSION.sub(lambda m: _ROOT_KEYS.get(m[0], _OPERATION_KEYS.get(m[0], m[0])),
                             message)
    if path is None:
        return ManifestProblem(src.file, 1, f"<compiled document> {where}", message)
    return src.problem(path, message)
