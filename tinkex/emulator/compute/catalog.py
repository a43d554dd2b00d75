"""Base models the emulator serves: the numpy presets plus user-chosen aliases.

Aliases (``--alias Qwen/Qwen3-8B=tinkex/tiny-lm``) let scripts written for real
model names run unchanged; runs remember the name they were created with, so
``get_info`` and ``weights_info`` echo it back.
"""

from __future__ import annotations

from collections.abc import Mapping

from tinkex.emulator.errors import HTTPProblem

from .model import PRESETS


class Catalog:
    def __init__(self, aliases: Mapping[str, str]):
        for name, target in aliases.items():
            if target not in PRESETS:
                raise ValueError(f"alias {name}={target}: {target!r} is not a base model "
                                 f"(available: {', '.join(sorted(PRESETS))})")
        self.aliases = dict(aliases)

    def names(self) -> list[str]:
        return sorted(PRESETS) + sorted(set(self.aliases) - set(PRESETS))

    def lookup(self, name: str) -> str | None:
        """The preset behind ``name``, or None."""
        if name in PRESETS:
            return name
        return self.aliases.get(name)

    def preset(self, name: str) -> str:
        """The preset behind ``name``; 400 listing the available models otherwise."""
        preset = self.lookup(name)
        if preset is None:
            raise HTTPProblem(400, f"unknown base model {name!r}; available: "
                                   f"{', '.join(self.names())}")
        return preset

    def max_context(self, name: str) -> int:
        return PRESETS[self.preset(name)].max_seq_len
