"""Fixtures of the reliability suite: hostile stub servers on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

# The helpers next to these tests (stub_server, ...) import by module name.
sys.path.insert(0, str(Path(__file__).parent))
