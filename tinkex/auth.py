"""What credentials tinkex would use, checked locally or against the server.

``get_tinker_token`` and ``tinker_has_credentials`` look at the configuration
only (argument-free: the environment, as :class:`~tinkex.ServiceClient` reads it);
``raise_if_tinker_not_accessible`` makes one request.
"""

from __future__ import annotations

import os

from tinkex._spec import load_operation_table
from tinkex.core.errors import SDKError

__all__ = ["get_tinker_token", "raise_if_tinker_not_accessible", "tinker_has_credentials"]


def get_tinker_token() -> str | None:
    """The API key from the environment, or None when none is set."""
    env = load_operation_table().auth.env
    token = os.environ.get(env, "").strip() if env else ""
    return token or None


def tinker_has_credentials() -> bool:
    """Whether an API key is configured (nothing is sent to check it)."""
    return get_tinker_token() is not None


def raise_if_tinker_not_accessible() -> None:
    """Raise a :class:`~tinkex.TinkerError` unless the server accepts the configured key.

    One request (the server's capabilities), not retried; no session is created.
    """
    from tinkex.rest_client import RestClient

    if not tinker_has_credentials():
        raise SDKError("no Tinker API key is configured (set TINKER_API_KEY)")
    with RestClient() as rest:
        rest._ctx.api.service.get_server_capabilities(max_retries=0)
