"""Who is calling: API keys and the short-lived JWTs minted for them.

Every ``tml-`` key is its own tenant: one user in an organization of its own.
Keys are never stored: the owner id is a hash of the key, so the database (and
``model_owner`` in answers) reveals nothing a client could reuse. A JWT from
``/api/v1/auth/token`` stands for the key it was minted for (claims ``sub``,
``org_id``, ``email``, ``iat``, ``exp``) and is accepted wherever the key is; an
expired or forged one is a 401 carrying ``WWW-Authenticate: Bearer
error="invalid_token"``, the signal on which SDK 0.38 mints a new one and
replays the request. A revoked key (``DELETE /api/v1/auth/apikey/me``) is a 401
for good, and so are the JWTs minted for it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tinkex.emulator.errors import HTTPProblem

from .signing import BadToken, ExpiredToken, JwtSigner

HEADER = "x-api-key"
PREFIX = "tml-"
JWT_PREFIX = "eyJ"
INVALID_TOKEN = 'Bearer error="invalid_token", error_description="{}"'


@dataclass(frozen=True)
class Identity:
    """The principal behind a request. ``owner`` keys every stored row."""

    owner: str
    key_hash: str
    via_jwt: bool = False

    @property
    def user_urn(self) -> str:
        return urn_of(self.owner)

    @property
    def org_id(self) -> str:
        return f"org-{self.key_hash}"

    @property
    def org_urn(self) -> str:
        return f"tml:organization:{self.org_id}"

    @property
    def email(self) -> str:
        return f"user-{self.key_hash[:8]}@emulator.tinkex.invalid"

    @property
    def name(self) -> str:
        return f"Emulator user {self.key_hash[:8]}"

    @property
    def key_id(self) -> int:
        return int(self.key_hash[:12], 16)

    def claims(self) -> dict[str, str]:
        return {"sub": self.user_urn, "org_id": self.org_id, "email": self.email,
                "owner": self.owner, "kh": self.key_hash, "iss": "tinkex-emulator"}


def urn_of(owner: str) -> str:
    """The user URN of an owner id (``user-<hash>`` -> ``tml:user:<hash>``)."""
    return "tml:user:" + owner.removeprefix("user-")


def owner_of_key(key: str) -> Identity:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return Identity(owner="user-" + digest, key_hash=digest)


def owner_of(headers: Mapping[str, str]) -> str:
    """The owner id for a request's API key; 401 when it is missing or malformed.

    For places that take the key itself (the console's sign-in); API requests go
    through :meth:`Authenticator.identify`, which also takes JWTs.
    """
    key = headers.get(HEADER)
    if not key:
        raise HTTPProblem(401, "missing X-API-Key header")
    if not key.startswith(PREFIX) or len(key) == len(PREFIX):
        raise HTTPProblem(401, f"invalid API key: it must start with {PREFIX!r}")
    return owner_of_key(key).owner


def owner_for_urn(urn: str) -> str | None:
    """The owner id behind a user URN of this emulator (``tml:user:<hash>``)."""
    prefix = "tml:user:"
    return "user-" + urn[len(prefix):] if urn.startswith(prefix) else None


def _invalid_token(message: str) -> HTTPProblem:
    return HTTPProblem(401, message, headers={"WWW-Authenticate": INVALID_TOKEN.format(message)})


class Authenticator:
    def __init__(self, signer: JwtSigner, is_revoked: Callable[[str], bool],
                 refuse_every: int = 0):
        self._signer = signer
        self._is_revoked = is_revoked
        # Fault injection: refuse every n-th request that carries a valid JWT, as a server
        # that rotated its signing key would, so clients' replay paths run. A token is
        # only refused once at least n JWT requests came after its minting, so the
        # replay (with a fresh token) always passes.
        self._refuse_every = refuse_every
        self._lock = threading.Lock()
        self._jwt_requests = 0
        self._minted_at: dict[str, int] = {}

    def identify(self, headers: Mapping[str, str]) -> Identity:
        """The caller's identity; 401 when the credential is missing, malformed or stale."""
        value = headers.get(HEADER)
        if not value:
            raise HTTPProblem(401, "missing X-API-Key header")
        if value.startswith(JWT_PREFIX):
            identity = self.identify_jwt(value)
        elif value.startswith(PREFIX) and len(value) > len(PREFIX):
            identity = owner_of_key(value)
        else:
            raise HTTPProblem(401, f"invalid API key: it must start with {PREFIX!r} "
                                   "(or be a JWT from /api/v1/auth/token)")
        if self._is_revoked(identity.key_hash):
            raise (_invalid_token("the API key behind this token was revoked")
                   if identity.via_jwt else HTTPProblem(401, "this API key was revoked"))
        if identity.via_jwt and self._refuse_every and self._refuse_now(value):
            raise _invalid_token("the JWT was refused (fault injection: get a new one)")
        return identity

    def _refuse_now(self, token: str) -> bool:
        with self._lock:
            self._jwt_requests += 1
            n, every = self._jwt_requests, self._refuse_every
            return n % every == 0 and n - self._minted_at.get(token, 0) >= every

    def identify_jwt(self, token: str) -> Identity:
        try:
            claims = self._signer.verify_jwt(token)
        except ExpiredToken:
            raise _invalid_token("the JWT has expired") from None
        except BadToken:
            raise _invalid_token("the JWT is not one this server issued") from None
        owner, key_hash = claims.get("owner"), claims.get("kh")
        if not isinstance(owner, str) or not isinstance(key_hash, str):
            raise _invalid_token("the JWT lacks the owner claims")
        return Identity(owner=owner, key_hash=key_hash, via_jwt=True)

    def mint(self, identity: Identity, ttl: float) -> str:
        token = self._signer.jwt({**identity.claims(), "jti": uuid.uuid4().hex}, ttl)
        if self._refuse_every:
            with self._lock:
                self._minted_at[token] = self._jwt_requests
        return token
