"""JWT auth and API key self-service in the emulator, over HTTP."""

from __future__ import annotations

import base64
import json

from emulator_client import Client, StartEmulator

INVALID = 'error="invalid_token"'


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_exchange_mints_a_jwt_that_stands_for_the_key(client: Client) -> None:
    jwt = client.ok("POST", "/api/v1/auth/token", {})["jwt"]
    c = claims(jwt)
    assert {"exp", "iat", "sub", "org_id", "email"} <= set(c) and c["exp"] > c["iat"]
    assert c["sub"].startswith("tml:user:") and c["org_id"].startswith("org-")
    session = client.session_id()
    as_jwt = Client(client.base_url, key=jwt)
    assert as_jwt.ok("GET", f"/api/v1/sessions/{session}")["training_run_ids"] == []
    # the exchange also takes a JWT (the same principal), never an unsigned one
    assert claims(as_jwt.ok("POST", "/api/v1/auth/token", {})["jwt"])["sub"] == c["sub"]
    header, payload, _ = jwt.split(".")
    forged = f"{header}.{payload}.{'A' * 43}"
    refused = Client(client.base_url, key=forged).get(f"/api/v1/sessions/{session}")
    assert refused.status_code == 401 and INVALID in refused.headers["www-authenticate"]


def test_an_expired_jwt_is_refused_with_the_invalid_token_signal(
        start_emulator: StartEmulator) -> None:
    emulator = start_emulator(jwt_ttl=1)
    client = Client(emulator.base_url)
    assert emulator.services is not None
    expired = emulator.services.auth._signer.jwt({"owner": "user-x", "kh": "x"}, ttl=-10)
    answer = Client(emulator.base_url, key=expired).get("/api/v1/training_runs")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert INVALID in answer.headers["www-authenticate"]
    assert client.ok("GET", "/api/v1/training_runs")["training_runs"] == []  # keys still work


def test_api_key_self_service_and_revocation(client: Client) -> None:
    jwt = client.ok("POST", "/api/v1/auth/token", {})["jwt"]
    me = client.ok("GET", "/api/v1/auth/apikey/me")
    assert me["details"]["user_details"]["email"] == claims(jwt)["email"]
    assert Client(client.base_url, key=jwt).get("/api/v1/auth/apikey/me").status_code == 401
    assert client.session.delete(client.base_url + "/api/v1/auth/apikey/me").status_code == 200
    assert client.get("/api/v1/training_runs").status_code == 401
    stale = Client(client.base_url, key=jwt).get("/api/v1/training_runs")
    assert stale.status_code == 401 and INVALID in stale.headers["www-authenticate"]
    assert Client(client.base_url, key="tml-someone-else").get(
        "/api/v1/training_runs").status_code == 200


def test_jwt_auth_can_be_switched_off(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(jwt_auth=False).base_url)
    assert client.ok("POST", "/api/v1/client/config",
                     {"sdk_version": "0.38.0"})["pjwt_auth_enabled"] is False
    assert client.post("/api/v1/auth/token", {}).status_code == 404
