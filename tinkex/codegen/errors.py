"""Located manifest errors: every problem is one line ``file:line: key.path: what``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ManifestProblem:
    """One problem found in a manifest, with where it is."""

    file: str
    line: int
    key_path: str
    message: str

    def __str__(self) -> str:
        where = self.key_path or "<root>"
        return f"{self.file}:{self.line}: {where}: {self.message}"


class ManifestError(Exception):
    """A manifest (or compiled document) failed its checks; carries every problem."""

    def __init__(self, problems: list[ManifestProblem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(path: tuple[object, ...]) -> str:
    """Render a key path like ``operations[3].future.result``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
