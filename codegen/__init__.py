"""The checkout's short name for the generator: ``codegen.X`` is ``tinkex.codegen.X``.

``python -m codegen regen`` and ``from codegen.build import build`` keep working in
the repository. The installed form is ``tinkex.codegen`` (command
``tinkex-codegen``); this folder is not part of the wheel. Each ``codegen.X`` is the
very module ``tinkex.codegen.X``, never a second copy, so classes compare equal.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

_TARGET = "tinkex.codegen"


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(__name__ + ".") and fullname != __name__ + ".__main__":
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(_TARGET + spec.name[len(__name__):])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its real name."""


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())
