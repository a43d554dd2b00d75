"""Signed, expiring tokens: claims in URL-safe base64, authenticated with an HMAC.

Archive, external-weights and trace URLs and console sign-in links all hand a
browser something it can present later without an API key. A token is ``<payload>.<signature>``; the
payload is JSON claims plus an expiry ``e`` (wall-clock seconds), so tokens
survive a restart when the key is kept in the database. Each use has its own
``purpose``, so a token minted for one can never be replayed as another. The
short-lived JWTs of the auth exchange (:class:`JwtSigner`) are standard HS256
JWTs under a key derived the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from tinkex.emulator.errors import HTTPProblem


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Mint and check tokens of one ``purpose`` (``"archive"``, ``"console-link"``, ...)."""

    def __init__(self, secret: bytes, purpose: str):
        self._key = hmac.new(secret, purpose.encode("ascii"), hashlib.sha256).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, claims: dict[str, Any], ttl: float) -> tuple[str, float]:
        """A URL-safe token for ``claims`` and its expiry (wall-clock seconds)."""
        expires = time.time() + ttl
        payload = _b64(json.dumps({**claims, "e": expires}, separators=(",", ":"))
                       .encode("utf-8"))
        return f"{payload}.{self._sign(payload)}", expires

    def verify(self, token: str, what: str = "token") -> dict[str, Any]:
        """The token's claims; 403 when it was not signed by us, 410 once it has expired."""
        payload, _, signature = token.partition(".")
        try:
            valid = hmac.compare_digest(self._sign(payload), signature)
        except (TypeError, UnicodeEncodeError):
            valid = False
        if not valid:
            raise HTTPProblem(403, f"invalid {what} signature")
        claims: dict[str, Any] = json.loads(_unb64(payload))
        if claims["e"] < time.time():
            raise HTTPProblem(410, f"this {what} has expired; request a new one")
        return claims


class BadToken(ValueError):
    """A JWT that is malformed or whose signature does not match."""


class ExpiredToken(ValueError):
    """A well-signed JWT past its expiry."""


def _decode(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(part))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadToken("malformed token") from None
    if not isinstance(value, dict):
        raise BadToken("malformed token")
    return value


def _encode(claims: dict[str, Any]) -> str:
    return _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))


_JWT_HEADER = _encode({"alg": "HS256", "typ": "JWT"})


class JwtSigner:
    """Standard compact HS256 JWTs (header.claims.signature), so any JWT library reads them."""

    def __init__(self, secret: bytes):
        self._key = hmac.new(secret, b"jwt", hashlib.sha256).digest()

    def _mac(self, message: str) -> str:
        return _b64(hmac.new(self._key, message.encode("ascii"), hashlib.sha256).digest())

    def jwt(self, claims: dict[str, Any], ttl: float) -> str:
        now = int(time.time())
        body = f"{_JWT_HEADER}.{_encode({**claims, 'iat': now, 'exp': now + int(ttl)})}"
        return f"{body}.{self._mac(body)}"

    def verify_jwt(self, token: str) -> dict[str, Any]:
        header, payload, signature = (token.split(".") + ["", ""])[:3]
        try:
            valid = hmac.compare_digest(self._mac(f"{header}.{payload}"), signature)
        except (TypeError, UnicodeEncodeError):
            valid = False
        if not valid:
            raise BadToken("invalid signature")
        if _decode(header).get("alg") != "HS256":
            raise BadToken("unsupported JWT algorithm")
        claims = _decode(payload)
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= time.time():
            raise ExpiredToken("the JWT has expired")
        return claims
