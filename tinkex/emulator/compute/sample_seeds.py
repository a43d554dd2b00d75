"""Reproducible sampling for clients that send no seed (``--sample-seed``).

Scripts rarely seed their samples, so two runs of one script sample different
tokens. With a base seed, an unseeded request draws from a seed derived from the
base, the request's content and how many identical requests came before it:
rerunning a script (with any client) samples the same tokens, and identical
requests in flight together still differ from each other.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any


class SampleSeeds:
    def __init__(self, base: int | None) -> None:
        self.base = base
        self._seen: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def seed_for(self, prompt: list[int], request: Any) -> int | None:
        """The seed of an unseeded request (None without a base seed: fresh entropy)."""
        if self.base is None:
            return None
        content = json.dumps([prompt, request], sort_keys=True, default=str).encode()
        key = hashlib.sha256(content).digest()
        with self._lock:
            earlier = self._seen.get(key, 0)
            self._seen[key] = earlier + 1
        digest = hashlib.sha256(key + f":{self.base}:{earlier}".encode()).digest()
        return int.from_bytes(digest[:8], "big")
