"""No credential the client knows leaks through an error, even when the server echoes it.

The stub server answers every request with an error that repeats the API key
and the Cloudflare secret it was sent, in the body and in a header. Whatever
a caller can reach from the exception (message, repr, ``body``, ``response``
content and headers, the ``__cause__`` / ``__context__`` chain and its
attributes, a pickle) and whatever the CLI prints must not contain them.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from stub_server import Answer, StubServer

import tinkex

API_KEY = "tml-CANARYkey0123456789abcdef"
CF_SECRET = "cfsecret-CANARY-9876543210"
CANARIES = (API_KEY, CF_SECRET, "CANARY")


def _echo(status: int) -> Any:
    def answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
        key = headers.get("x-api-key", "")
        cf = headers.get("cf-access-client-secret", "")
        detail = f"invalid API key {key} (cf secret {cf}); you sent {body.decode(errors='replace')}"
        payload = json.dumps({"detail": detail, "echo": {"key": key, "headers": headers}})
        return status, {"Content-Type": "application/json", "X-Echo-Key": key,
                        "X-Echo-CF": cf}, payload.encode()
    return answer


@pytest.fixture
def cf_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCESS_CLIENT_ID", "cf-id")
    monkeypatch.setenv("CLOUDFLARE_ACCESS_CLIENT_SECRET", CF_SECRET)


def _reachable(value: Any, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """Text forms of everything reachable from an exception (attributes, chain), bounded."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 6:
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        yield value.decode(errors="replace") if isinstance(value, bytes) else value
        return
    if value is None or isinstance(value, (int, float, bool)):
        return
    yield repr(value)
    try:
        yield str(value)
    except Exception:  # noqa: BLE001 (a str() that fails leaks nothing)
        pass
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
        if isinstance(value, BaseException):
            items += [value.__cause__, value.__context__, *value.args]
        for name in ("content", "headers", "text", "body", "request", "response"):
            try:
                items.append(getattr(value, name, None))
            except Exception:  # noqa: BLE001
                pass
    for item in items:
        yield from _reachable(item, depth + 1, seen)


def _assert_clean(exc: BaseException) -> None:
    texts = list(_reachable(exc))
    texts.append(pickle.dumps(exc).decode("latin-1"))
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, f"{canary!r} leaked in: {text[:300]}"


@pytest.mark.parametrize("status", [401, 400, 500])
def test_errors_from_an_echoing_server_hold_no_secret(status: int, cf_secret: None) -> None:
    with StubServer(_echo(status)) as server:
        client = tinkex.ServiceClient(base_url=server.url, api_key=API_KEY, max_retries=0)
        try:
            with pytest.raises(tinkex.APIStatusError) as info:
                client.get_server_capabilities()
        finally:
            client.close()
    assert info.value.status_code == status
    _assert_clean(info.value)
    # Redaction keeps the rest of the server's words.
    assert "invalid API key" in str(info.value)


def test_connection_errors_hold_no_secret(cf_secret: None) -> None:
    with StubServer(lambda path, headers, body: None) as server:
        client = tinkex.ServiceClient(base_url=server.url, api_key=API_KEY, max_retries=0)
        try:
            with pytest.raises(tinkex.APIConnectionError) as info:
                client.get_server_capabilities()
        finally:
            client.close()
    _assert_clean(info.value)


def test_the_cli_prints_no_secret() -> None:
    with StubServer(_echo(401)) as server:
        env = dict(os.environ, TINKER_API_KEY=API_KEY, TINKER_BASE_URL=server.url,
                   CLOUDFLARE_ACCESS_CLIENT_ID="cf-id", CLOUDFLARE_ACCESS_CLIENT_SECRET=CF_SECRET)
        result = subprocess.run([sys.executable, "-m", "tinkex.cli", "run", "list"],
                                capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "Error:" in result.stderr and "invalid API key" in result.stderr
    for canary in CANARIES:
        assert canary not in result.stdout + result.stderr


def test_a_minted_jwt_is_redacted_too(tmp_path: Any) -> None:
    """A server that hands out a JWT and then echoes it: the token is a secret as well."""
    from tinkex.emulator import Emulator, EmulatorConfig

    with Emulator(EmulatorConfig(data_dir=tmp_path, poll_hold=1.0)) as emulator:
        upstream = emulator.base_url
        seen: list[str] = []

        def answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
            if path == "/api/v1/get_server_capabilities":  # echo whatever credential came
                seen.append(headers.get("x-api-key", ""))
                return 400, {"Content-Type": "application/json"}, json.dumps(
                    {"detail": f"bad credential {headers.get('x-api-key')}"}).encode()
            return _forward(upstream, path, headers, body)

        with StubServer(answer) as server:
            client = tinkex.ServiceClient(base_url=server.url, api_key=API_KEY, max_retries=0)
            try:
                client.create_rest_client().whoami().result(timeout=60)  # mints a JWT
                with pytest.raises(tinkex.BadRequestError) as info:
                    client.get_server_capabilities()
            finally:
                client.close()
    assert seen and seen[0].count(".") == 2, seen  # the echoed credential was a JWT
    texts = [*_reachable(info.value), pickle.dumps(info.value).decode("latin-1")]
    for text in texts:
        assert seen[0] not in text and API_KEY not in text, text[:300]


def _forward(upstream: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(upstream)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        sent = {k: v for k, v in headers.items() if k not in ("host", "connection")}
        conn.request("POST" if body else "GET", path, body=body or None, headers=sent)
        response = conn.getresponse()
        content = response.read()
        kept = {k: v for k, v in response.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
        return response.status, kept, content
    finally:
        conn.close()
