"""Load YAML while remembering the line of every key and value.

PyYAML's composer gives nodes with marks; we build plain Python data from them
and keep a map from key path to line number, so that every later check can
point at the exact line. Duplicate mapping keys are reported, not silently
overwritten (PyYAML's default behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ManifestError, ManifestProblem, format_path

Key = tuple[object, ...]


@dataclass
class Located:
    """Data loaded from a file plus the line of each key path."""

    file: str
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)

    def line_of(self, path: Key) -> int:
        """Line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Key, message: str) -> ManifestProblem:
        return ManifestProblem(self.file, self.line_of(path), format_path(tuple(path)), message)


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.lines: dict[Key, int] = {}
        self.problems: list[ManifestProblem] = []

    def build(self, node: yaml.Node, path: Key) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(
                        ManifestProblem(self.file, key_node.start_mark.line + 1,
                                        format_path(path), "YAML merge keys (<<) are not supported")
                    )
                    continue
                key = self._scalar(key_node)
                if not isinstance(key, (str, int)):
                    self.problems.append(
                        ManifestProblem(self.file, key_node.start_mark.line + 1,
                                        format_path(path), f"mapping key must be a string, got {key!r}")
                    )
                    continue
                key = str(key)
                child = path + (key,)
                if key in out:
                    self.problems.append(
                        ManifestProblem(self.file, key_node.start_mark.line + 1, format_path(child),
                                        f"duplicate key (first defined on line {self.lines[child]})")
                    )
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    @staticmethod
    def _scalar(node: yaml.Node) -> Any:
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value  # most scalars: no constructor call needed
        # Resolve the scalar with the safe constructor (ints, floats, bools, null).
        return yaml.SafeLoader.construct_object(_LOADER, node, deep=True)


class _Loader(yaml.SafeLoader):
    pass


_LOADER = _Loader("")
_STR = "tag:yaml.org,2002:str"
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


MAX_BYTES = 32 * 2**20
"""Largest source file read (the Tinker manifest is about 150 KB)."""
MAX_DEPTH = 200
"""Deepest nesting of mappings and sequences."""
MAX_NODES = 1_000_000
"""Most values the document may hold once its aliases are expanded (an alias bomb holds
billions in a few hundred bytes)."""


def _fail(file: str, line: int, message: str) -> ManifestError:
    return ManifestError([ManifestProblem(file, line, "", message)])


def read_source(path: str | Path) -> str:
    """The text of a source file, or one located ManifestError (missing, a directory, too
    big, not UTF-8) instead of an OSError or UnicodeDecodeError."""
    file = str(path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail(file, 1, "no such file") from None
    except IsADirectoryError:
        raise _fail(file, 1, "is a directory, not a file") from None
    except OSError as exc:
        raise _fail(file, 1, f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _fail(file, 1, f"is larger than {MAX_BYTES // 2**20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise _fail(file, line, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                f"{exc.start})") from None


def check_shape(file: str, text: str) -> None:
    """Refuse nesting beyond MAX_DEPTH in one pass over the parser's events (iterative:
    the composer that follows recurses once per level)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_COMPOSER):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 1
                    raise _fail(file, line, f"nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        raise _invalid(file, exc) from None


def _invalid(file: str, exc: yaml.MarkedYAMLError) -> ManifestError:
    mark = exc.problem_mark or exc.context_mark
    return _fail(file, mark.line + 1 if mark else 1, f"invalid YAML: {exc.problem}")


def check_expansion(file: str, root: yaml.Node) -> None:
    """Refuse recursive aliases and documents whose aliases expand beyond MAX_NODES values."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _fail(file, node.start_mark.line + 1, "a YAML alias refers to itself")
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item) for item in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise _fail(file, node.start_mark.line + 1,
                        f"YAML aliases expand to more than {MAX_NODES} values")
        sizes[key] = total
        return total

    size(root)


def compose(file: str, text: str) -> yaml.Node | None:
    """The node graph of ``text``, checked for depth, alias expansion and alias cycles."""
    check_shape(file, text)
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        raise _invalid(file, exc) from None
    if root is not None:
        check_expansion(file, root)
    return root


def load_plain(file: str, text: str) -> Any:
    """Plain data from YAML ``text`` (no line map), with the same limits as :func:`compose`."""
    check_shape(file, text)
    loader = _COMPOSER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        check_expansion(file, root)
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _invalid(file, exc) from None
    except yaml.YAMLError as exc:
        raise _fail(file, 1, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Parse ``path`` (or ``text``) into data with line numbers; raise ManifestError on problems."""
    file = str(path)
    if text is None:
        text = read_source(path)
    root = compose(file, text)
    if root is None:
        raise ManifestError([ManifestProblem(file, 1, "", "the file is empty")])
    builder = _Builder(file)
    data = builder.build(root, ())
    if builder.problems:
        raise ManifestError(builder.problems)
    return Located(file, data, builder.lines)
