"""The token exchange and API key self-service (``/api/v1/auth/...``)."""

from __future__ import annotations

from tinkex import types as T
from tinkex.emulator.errors import HTTPProblem

from ..services import Services
from .registry import Call, handles


@handles("auth_token")
def auth_token(s: Services, call: Call) -> T.AuthTokenResponse:
    # Also accepts a JWT (SDK 0.38 exchanges a JWT given as api_key): same principal.
    if not s.config.jwt_auth:
        raise HTTPProblem(404, "JWT auth is disabled on this server (pjwt_auth_enabled is false)")
    return T.AuthTokenResponse(jwt=s.auth.mint(call.who, s.config.jwt_ttl))


def _key_only(call: Call) -> None:
    if call.who.via_jwt:
        raise HTTPProblem(401, "this endpoint takes the API key itself, not a JWT")


@handles("get_self_api_key")
def get_self_api_key(s: Services, call: Call) -> T.SelfApiKeyResponse:
    _key_only(call)
    who = call.who
    return T.SelfApiKeyResponse(
        key_id=who.key_id, name=f"key {who.key_hash[:8]}", note="an emulator API key",
        details=T.ApiKeyDetails(org_details=T.ApiKeyOrgDetails(name=who.org_id),
                                user_details=T.ApiKeyUserDetails(email=who.email)))


@handles("delete_self_api_key")
def delete_self_api_key(s: Services, call: Call) -> None:
    _key_only(call)
    s.ledger.revoke(call.who.key_hash)
    s.ledger.audit(call.owner, "organization_api_key_revoke",
                   {"actor": call.who.user_urn, "key_id": call.who.key_id})
