"""The official releases the conformance matrix runs, and the few ``make test`` runs.

One per minor line where the wire changed (see the reference's version
history): pre-0.18 (no client config), 0.18 (config and JWT), 0.19 - 0.24
(negotiated protobuf), 0.25+ (protobuf only), 0.26 (sequence ids, cancel),
0.28 (external weights), 0.30 (optimizers), 0.32 - 0.36 (joins, custom losses,
search) and the newest.
"""

from __future__ import annotations

RELEASES = ("0.4.1", "0.6.3", "0.8.1", "0.10.0", "0.13.1", "0.15.0", "0.16.1", "0.18.2",
            "0.20.0", "0.22.1", "0.22.7", "0.23.4", "0.24.1", "0.26.2", "0.28.1", "0.30.4",
            "0.33.1", "0.35.0", "0.36.0", "0.38.0")
"""Releases with sessions (>= 0.3): the SFT flow must pass unchanged."""

FAST = ("0.16.1", "0.24.1")
"""The subset ``make test`` runs (0.38.0 has its own, wider tests there)."""

PRE_SESSION = ("0.2.2",)
"""Releases from before server sessions: refused with a clear error."""

NEEDS_TORCH = ("0.2.2", "0.4.1", "0.6.3")
"""Releases whose package requires (and imports) torch."""

CPU_TORCH = "torch==2.13.0+cpu"
"""Tried first for those: the CPU-only build, when a local wheel provides it."""
