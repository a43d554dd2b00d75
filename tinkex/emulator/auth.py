"""API keys and owners: every ``tml-`` key is its own tenant.

Keys are never stored: the owner id is a hash of the key, so the database (and
``model_owner`` in answers) reveals nothing a client could reuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .errors import ApiError

HEADER = "x-api-key"
PREFIX = "tml-"


def owner_of(headers: Mapping[str, str]) -> str:
    """The owner id for the request's key; 401 when it is missing or malformed."""
    key = headers.get(HEADER)
    if not key:
        raise ApiError(401, "missing X-API-Key header")
    if not key.startswith(PREFIX) or len(key) == len(PREFIX):
        raise ApiError(401, f"invalid API key: it must start with {PREFIX!r}")
    return "user-" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
