"""Line numbers of JSON pointers in a JSON or YAML source text, found only when needed.

Importing a large document must stay fast, so positions are not kept while
parsing; when there is something to report, the text is scanned once for the
pointers asked for (or their nearest ancestor).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

Pointer = tuple[object, ...]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+|\n')


def pointer_text(path: Pointer) -> str:
    """RFC 6901 form of a path: ``/paths/~1pets/get``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path) or "/"


def _json_lines(text: str, wanted: set[Pointer]) -> dict[Pointer, int]:
    import json

    found: dict[Pointer, int] = {}
    line = 1
    stack: list[list[object]] = []  # per container: [kind, key or index, expecting_key]
    path: list[object] = []
    for match in _TOKEN.finditer(text):
        tok = match.group()
        if tok == "\n":
            line += 1
            continue
        top = stack[-1] if stack else None
        if tok in "{[":
            if top is not None and top[0] == "[":
                top[1] = int(top[1]) + 1  # type: ignore[call-overload]
                path.append(top[1])
            stack.append(["{", None, True] if tok == "{" else ["[", -1, False])
            continue
        if tok in "}]":
            stack.pop()
            if stack:
                path.pop()
            continue
        if tok == ",":
            if top is not None and top[0] == "{":
                top[2] = True
            continue
        if tok == ":":
            continue
        if top is not None and top[0] == "{" and top[2]:
            key = json.loads(tok) if tok.startswith('"') else tok
            top[1], top[2] = key, False
            path.append(key)
            here = tuple(path)
            if here in wanted:
                found.setdefault(here, line)
            continue  # the value follows: a scalar pops the key at once, a container on close
        if top is not None and top[0] == "[":
            top[1] = int(top[1]) + 1  # type: ignore[call-overload]
            here = tuple(path) + (top[1],)
            if here in wanted:
                found.setdefault(here, line)
            continue
        if top is not None and top[0] == "{":  # a scalar value ends its key
            path.pop()
    return found


def _yaml_lines(text: str, wanted: set[Pointer]) -> dict[Pointer, int]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = yaml.compose(text, Loader=loader)
    found: dict[Pointer, int] = {}
    prefixes = {w[:i] for w in wanted for i in range(len(w) + 1)}

    def walk(node: yaml.Node, path: Pointer) -> None:
        if path in wanted:
            found.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = path + (key.value,)
                if child in prefixes:
                    if child in wanted:
                        found.setdefault(child, key.start_mark.line + 1)
                    walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                if path + (i,) in prefixes:
                    walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return found


def lines_of(text: str, pointers: Iterable[Pointer], *, is_json: bool) -> dict[Pointer, int]:
    """The line of each pointer, or of its nearest ancestor present in the text (else 1)."""
    asked = list(pointers)
    wanted = {p[:i] for p in asked for i in range(1, len(p) + 1)}
    if not wanted:
        return {}
    found = _json_lines(text, wanted) if is_json else _yaml_lines(text, wanted)
    out: dict[Pointer, int] = {}
    for p in asked:
        q = p
        while q and q not in found:
            q = q[:-1]
        out[p] = found.get(q, 1)
    return out
