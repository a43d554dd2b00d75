"""HMAC-signed tokens: signed download URLs and the short-lived JWTs of the auth exchange.

One secret per emulator, kept in the database so tokens survive a restart.
URL tokens are ``<payload>.<signature>`` (base64url JSON claims with an
expiry ``e``); JWTs are standard compact HS256 JWS (header, claims, signature)
so any JWT library can read them. A tampered token is refused; an expired one
is reported as such, so callers can tell the client to get a new one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class BadToken(ValueError):
    """A token that is malformed or whose signature does not match."""


class ExpiredToken(ValueError):
    """A well-signed token past its expiry."""


def _encode(claims: dict[str, Any]) -> str:
    return b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def _decode(part: str) -> dict[str, Any]:
    try:
        value = json.loads(unb64(part))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadToken("malformed token") from None
    if not isinstance(value, dict):
        raise BadToken("malformed token")
    return value


_JWT_HEADER = _encode({"alg": "HS256", "typ": "JWT"})


class Signer:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, message: str) -> str:
        return b64(hmac.new(self._secret, message.encode("ascii"), hashlib.sha256).digest())

    def _check(self, message: str, signature: str) -> None:
        try:
            ok = hmac.compare_digest(self._mac(message), signature)
        except (TypeError, UnicodeEncodeError):
            ok = False
        if not ok:
            raise BadToken("invalid signature")

    # -- signed URL tokens ----------------------------------------------------------

    def token(self, claims: dict[str, Any], ttl: float) -> tuple[str, float]:
        """A URL-safe token carrying ``claims`` and its expiry (wall-clock seconds)."""
        expires = time.time() + ttl
        payload = _encode({**claims, "e": expires})
        return f"{payload}.{self._mac(payload)}", expires

    def verify(self, token: str) -> dict[str, Any]:
        payload, _, signature = token.partition(".")
        self._check(payload, signature)
        claims = _decode(payload)
        if not isinstance(claims.get("e"), (int, float)) or claims["e"] < time.time():
            raise ExpiredToken("expired")
        return claims

    # -- JWTs -------------------------------------------------------------------------

    def jwt(self, claims: dict[str, Any], ttl: float) -> str:
        now = int(time.time())
        body = f"{_JWT_HEADER}.{_encode({**claims, 'iat': now, 'exp': now + max(1, int(ttl))})}"
        return f"{body}.{self._mac(body)}"

    def verify_jwt(self, token: str) -> dict[str, Any]:
        header, payload, signature = (token.split(".") + ["", ""])[:3]
        self._check(f"{header}.{payload}", signature)
        if _decode(header).get("alg") != "HS256":
            raise BadToken("unsupported JWT algorithm")
        claims = _decode(payload)
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
            raise ExpiredToken("the JWT has expired")
        return claims
