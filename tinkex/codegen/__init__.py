"""Generic manifest compiler: manifest -> OpenAPI 3.1 + x-tinkex-* -> pydantic models -> stubs.

Also imports OpenAPI 3.0/3.1 documents into manifests and writes client packages that
run on ``tinkex.core``. The command is ``tinkex-codegen`` (``python -m tinkex.codegen``);
it needs the ``codegen`` extra: ``pip install 'tinkex[codegen]'``.
"""

from __future__ import annotations

import importlib.util
import sys

EXTRA = {"yaml": "pyyaml", "openapi_spec_validator": "openapi-spec-validator",
         "datamodel_code_generator": "datamodel-code-generator"}
"""Module -> distribution of what the ``codegen`` extra installs (tinkex itself needs none)."""


def missing_requirements() -> list[str]:
    """The distributions of the ``codegen`` extra that are not installed."""
    return [dist for module, dist in EXTRA.items() if importlib.util.find_spec(module) is None]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tinkex-codegen``: a clear message, not a traceback, without the extra."""
    missing = missing_requirements()
    if missing:
        print(f"tinkex-codegen needs {', '.join(missing)}: pip install 'tinkex[codegen]'",
              file=sys.stderr)
        return 2
    from .cli import main as run

    return run(argv)
