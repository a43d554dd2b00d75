"""Short-lived tokens in place of the long-lived key (the document's ``auth.token_exchange``).

Once enabled, every authenticated request except the exchange itself and the
document's ``key_operations`` carries a token minted by the exchange
operation instead of the key. A token is refreshed on demand (no thread):
once ``fraction`` of its lifetime has passed, or with ``margin`` seconds
left; if a refresh fails, the old token is used while it lasts. A request
refused with the document's invalid-token signal is replayed once with a new
token (concurrent refusals of one token cost one exchange). Tokens are JWTs:
their ``exp`` / ``iat`` claims are read, not verified (the server issued them).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import APIError, ConfigError
from .model.document import TokenExchangeSpec
from .redact import Secret

if TYPE_CHECKING:
    from .engine import Engine
    from .transport import Response

log = logging.getLogger("tinkex")


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without checking its signature."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a JWT (expected header.payload.signature)") from None
    if not isinstance(claims, dict):
        raise ValueError("the JWT payload is not an object")
    return claims


class TokenCredentials:
    """The current token of one engine; thread-safe."""

    def __init__(self, engine: Engine, spec: TokenExchangeSpec,
                 enabled: Callable[[], bool], clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._spec = spec
        self._enabled = enabled
        self._is_enabled: bool | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._claims: dict[str, Any] = {}
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self.key_operations = spec.key_operations | {spec.operation}

    @property
    def enabled(self) -> bool:
        """Asked of ``enabled`` until it says yes; from then on tokens are used for good."""
        if not self._is_enabled:
            self._is_enabled = bool(self._enabled())
        return bool(self._is_enabled)

    def uses_token(self, operation_id: str) -> bool:
        return operation_id not in self.key_operations and self.enabled

    def token(self) -> str:
        """A token with runway, minted or refreshed if needed."""
        with self._lock:
            now = self._clock()
            if self._token is not None and now < self._refresh_at:
                return self._token
            try:
                return self._mint()
            except APIError as exc:
                if self._token is not None and now < self._expires_at:
                    log.warning("token refresh failed, using the current token: %s", exc)
                    return self._token
                raise

    def replace(self, rejected: str) -> str:
        """A token other than ``rejected`` (a new one unless another thread already got one)."""
        with self._lock:
            if self._token is not None and str.__str__(self._token) != rejected:
                return self._token
            return self._mint()

    def claims(self) -> dict[str, Any]:
        """The claims of the current token (minting one if there is none)."""
        self.token()
        return dict(self._claims)

    def is_invalid_token(self, response: Response) -> bool:
        spec = self._spec
        if response.status not in spec.invalid_statuses:
            return False
        if spec.invalid_header is None or spec.invalid_contains is None:
            return True
        return spec.invalid_contains in response.headers.get(spec.invalid_header, "")

    def _mint(self) -> Secret:
        spec = self._spec
        response = self._engine.send(spec.operation, body={})
        try:
            raw = response.json()[spec.token_field]
            claims = jwt_claims(raw)
            lifetime = float(claims["exp"]) - float(claims.get("iat", self._clock()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{spec.operation} did not answer a usable token: {exc}") from None
        # Timed by the token's own lifetime on our clock, so clock skew cannot shorten it.
        now = self._clock()
        self._expires_at = now + max(lifetime, 0.0)
        self._refresh_at = min(now + lifetime * spec.refresh_fraction,
                               self._expires_at - spec.refresh_margin)
        self._token, self._claims = Secret(raw), claims
        self._engine.config.redactor.remember(raw)
        return self._token


def credentials_for(engine: Engine, enabled: Callable[[], bool]) -> TokenCredentials | None:
    """The engine's ``token_auth`` hook, when the document describes a token exchange."""
    spec = engine.table.auth.token_exchange
    return TokenCredentials(engine, spec, enabled) if spec is not None else None
