"""Security schemes: how a credential travels, as the document's ``securitySchemes`` say.

``apiKey`` goes in the header, query parameter or cookie it names; ``http``
``bearer`` as ``Authorization: Bearer <key>``, ``basic`` as
``Authorization: Basic base64(<user:password>)``, another ``http`` scheme as
``Authorization: <Scheme> <key>``; ``oauth2`` and ``openIdConnect`` send the
(already obtained) token as a bearer token. ``mutualTLS`` needs no header.

An operation's ``security`` lists alternatives (any one will do), each a set of
schemes that are all sent. The first alternative whose schemes all have a
credential is used; an empty alternative means the operation may go without.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    type: str
    location: str | None = None
    """apiKey: ``header``, ``query`` or ``cookie``."""
    param: str | None = None
    """apiKey: the header, query parameter or cookie name."""
    scheme: str | None = None
    """http: ``bearer``, ``basic`` ..."""

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> SecurityScheme:
        return cls(name, str(spec.get("type", "")), spec.get("in"), spec.get("name"),
                   str(spec["scheme"]).lower() if spec.get("scheme") else None)

    @property
    def header(self) -> str | None:
        """The header this scheme writes, if any (for redaction)."""
        if self.type == "apiKey":
            return self.param if self.location == "header" else None
        return None if self.type == "mutualTLS" else "Authorization"


@dataclass
class Credentials:
    """Where the credentials of one request go (filled by :func:`apply`)."""

    headers: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[tuple[str, str]] = field(default_factory=list)


def apply(scheme: SecurityScheme, credential: str, out: Credentials) -> None:
    if scheme.type == "apiKey":
        if scheme.location == "query":
            out.query.append((scheme.param or "", credential))
        elif scheme.location == "cookie":
            out.cookies.append((scheme.param or "", credential))
        else:
            out.headers[scheme.param or "Authorization"] = credential
    elif scheme.type == "http" and scheme.scheme == "basic":
        token = credential if _is_base64_pair(credential) else \
            base64.b64encode(credential.encode()).decode()
        out.headers["Authorization"] = f"Basic {token}"
    elif scheme.type == "http" and scheme.scheme not in (None, "bearer"):
        out.headers["Authorization"] = f"{scheme.scheme.capitalize()} {credential}"
    elif scheme.type in ("http", "oauth2", "openIdConnect"):
        out.headers["Authorization"] = f"Bearer {credential}"


def _is_base64_pair(text: str) -> bool:
    """Whether ``text`` is already ``base64(user:password)`` rather than ``user:password``."""
    if ":" in text:
        return False
    try:
        return b":" in base64.b64decode(text, validate=True)
    except ValueError:
        return False


def choose(alternatives: tuple[tuple[str, ...], ...], has: Mapping[str, bool]) -> tuple[str, ...] | None:
    """The first alternative whose schemes all have a credential; None if there is none."""
    for alt in alternatives:
        if all(has.get(name, False) for name in alt):
            return alt
    return None


def resolve(op_id: str, alternatives: tuple[tuple[str, ...], ...],
            schemes: Mapping[str, SecurityScheme], credential_for: Mapping[str, str | None]
            ) -> Credentials | None:
    """The credentials to send for an operation; None when none are configured but needed.

    ``credential_for`` maps scheme names to their credential (or None).
    """
    out = Credentials()
    if not alternatives:
        return out
    alt = choose(alternatives, {n: credential_for.get(n) is not None for n in schemes})
    if alt is None:
        return None
    for name in alt:
        value = credential_for.get(name)
        scheme = schemes.get(name)
        if scheme is None:
            raise ConfigError(f"{op_id}: unknown security scheme {name!r}")
        if value is not None:
            apply(scheme, value, out)
    return out
