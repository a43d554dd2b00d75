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


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Parse ``path`` (or ``text``) into data with line numbers; raise ManifestError on problems."""
    file = str(path)
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ManifestError([ManifestProblem(file, line, "", f"invalid YAML: {exc.problem}")]) from None
    if root is None:
        raise ManifestError([ManifestProblem(file, 1, "", "the file is empty")])
    builder = _Builder(file)
    data = builder.build(root, ())
    if builder.problems:
        raise ManifestError(builder.problems)
    return Located(file, data, builder.lines)
