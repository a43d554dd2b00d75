"""Weight files under ``<data-dir>/weights``: one safetensors file per saved state.

Files are named by a random storage key rather than by run and checkpoint name,
so no client-chosen string ever becomes a path. Writes go to a temporary file
that is renamed into place, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


class WeightFiles:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def save(self, state: dict[str, np.ndarray], metadata: dict[str, str]) -> tuple[str, int]:
        """Write ``state``; returns its storage key and size in bytes."""
        key = uuid.uuid4().hex
        final = self.path(key)
        tmp = final.with_suffix(".tmp")
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, tmp, metadata=metadata)
        os.replace(tmp, final)
        return key, final.stat().st_size

    def load(self, key: str) -> dict[str, np.ndarray]:
        return load_file(self.path(key))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
