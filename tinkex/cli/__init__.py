"""The ``tinkex`` command line (``tinkex --help``); built on click.

``main(argv)`` runs it and returns the exit status, so it serves both the
console script and tests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .app import cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="tinkex")
    except SystemExit as exit_:
        code = exit_.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


__all__ = ["cli", "main"]
