"""JWT mode on the wire (transport mocked): exchange, refresh before expiry, replay, whoami."""

from __future__ import annotations

import base64
import json
import time

import pytest
import responses

import tinkex
from tinkex.core.errors import AuthenticationError, ConfigError
from tinkex.core.options import RequestOptions

BASE = "http://tinker.test"
KEY = "tml-CANARY-0123456789"
RUNS = f"{BASE}/api/v1/training_runs"
EMPTY_RUNS = {"training_runs": [], "cursor": {"offset": 0, "limit": 20, "total_count": 0}}
INVALID = 'Bearer error="invalid_token", error_description="expired"'


def jwt(n: int, lifetime: float = 3600, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": "tml:user:u1", "org_id": "org-1", "email": "u1@example.test",
               "iat": now, "exp": now + int(lifetime), "n": n, **claims}

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(payload)}.sig{n}"


class Server:
    """Mocked config + exchange; records which credential each call carried."""

    def __init__(self, jwt_enabled: bool = True, lifetime: float = 3600) -> None:
        self.minted: list[str] = []
        self.seen: list[tuple[str, str]] = []
        responses.add_callback(responses.POST, f"{BASE}/api/v1/client/config",
                               callback=self._record("config", {"pjwt_auth_enabled": jwt_enabled}),
                               content_type="application/json")
        self.lifetime = lifetime
        responses.add_callback(responses.POST, f"{BASE}/api/v1/auth/token", callback=self._mint,
                               content_type="application/json")

    def _record(self, name: str, reply: dict):
        def callback(request):
            self.seen.append((name, request.headers["X-API-Key"]))
            return 200, {}, json.dumps(reply)
        return callback

    def _mint(self, request):
        self.seen.append(("token", request.headers["X-API-Key"]))
        self.minted.append(jwt(len(self.minted) + 1, self.lifetime))
        return 200, {}, json.dumps({"jwt": self.minted[-1]})

    def runs(self, *answers: tuple[int, dict[str, str]]) -> None:
        """Answer the training-runs list with these (status, headers), then 200s."""
        queue = list(answers)

        def callback(request):
            self.seen.append(("runs", request.headers["X-API-Key"]))
            status, headers = queue.pop(0) if queue else (200, {})
            body = EMPTY_RUNS if status == 200 else {"detail": "nope"}
            return status, headers, json.dumps(body)

        responses.add_callback(responses.GET, RUNS, callback=callback,
                               content_type="application/json")


@pytest.fixture
def rest():
    client = tinkex.RestClient(base_url=BASE, api_key=KEY)
    yield client
    client.close()


def start_jwt_mode(rest: tinkex.RestClient) -> None:
    """Fetch the client config (whoami does; so does a client's first pass)."""
    rest.whoami().result()


@responses.activate
def test_the_key_is_exchanged_once_and_the_jwt_is_sent_on_every_other_call(rest) -> None:
    server = Server()
    server.runs()
    rest.list_training_runs().result()  # before the config is known: the key
    me = rest.whoami().result()
    assert (me.user_urn, me.org_urn, me.email) == ("tml:user:u1", "tml:organization:org-1",
                                                   "u1@example.test")
    for _ in range(3):
        rest.list_training_runs().result()
    assert server.seen == [("runs", KEY), ("config", KEY), ("token", KEY)] + [
        ("runs", server.minted[0])] * 3
    assert KEY not in repr(rest._ctx.config) and server.minted[0] not in repr(rest._ctx.config)


@responses.activate
def test_a_refused_token_is_replaced_and_the_request_replayed_once(rest) -> None:
    server = Server()
    server.runs((401, {"WWW-Authenticate": INVALID}))
    start_jwt_mode(rest)
    rest.list_training_runs().result()
    first, second = server.minted
    assert [s for s in server.seen if s[0] == "runs"] == [("runs", first), ("runs", second)]
    assert rest.whoami().result().user_urn == "tml:user:u1"


@responses.activate
def test_a_401_without_the_invalid_token_signal_is_not_replayed(rest) -> None:
    server = Server()
    server.runs((401, {}), (401, {"WWW-Authenticate": INVALID}), (401, {"WWW-Authenticate": INVALID}))
    start_jwt_mode(rest)
    with pytest.raises(AuthenticationError):
        rest.list_training_runs().result()
    with pytest.raises(AuthenticationError):  # replayed once, refused again: the error stands
        rest.list_training_runs().result()
    assert [s[0] for s in server.seen].count("runs") == 3 and len(server.minted) == 2


@responses.activate
def test_tokens_are_refreshed_before_they_expire(rest) -> None:
    server = Server(lifetime=1000)  # refresh after half the lifetime, or 60 s before the end
    server.runs()
    start_jwt_mode(rest)
    creds = rest._ctx.credentials
    start = time.time()
    creds._clock = lambda: start + 400
    rest.list_training_runs().result()
    assert len(server.minted) == 1
    creds._clock = lambda: start + 501
    rest.list_training_runs().result()
    assert len(server.minted) == 2
    assert server.seen[-1] == ("runs", server.minted[1])


@responses.activate
def test_a_failed_refresh_keeps_using_the_token_while_it_lasts(rest) -> None:
    server = Server(lifetime=1000)
    server.runs()
    start_jwt_mode(rest)
    rest.list_training_runs().result()
    responses.replace(responses.POST, f"{BASE}/api/v1/auth/token", status=503,
                      json={"detail": "down"})
    creds = rest._ctx.credentials
    creds._clock = lambda: time.time() + 600
    creds._engine = _NoRetry(creds._engine)
    rest.list_training_runs().result()
    assert server.seen[-1] == ("runs", server.minted[0])


class _NoRetry:
    """The engine, with the exchange failing at once instead of after its retries."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.config = engine.config

    def send(self, operation_id: str, **kwargs):
        return self._engine.send(operation_id, options=RequestOptions(retry=False), **kwargs)


@responses.activate
def test_without_jwt_auth_the_key_is_sent_and_whoami_says_why_it_cannot_answer(rest) -> None:
    server = Server(jwt_enabled=False)
    server.runs()
    with pytest.raises(ConfigError, match="whoami needs JWT auth"):
        rest.whoami().result()
    rest.list_training_runs().result()
    assert server.seen == [("config", KEY), ("runs", KEY)] and not server.minted


@responses.activate
def test_a_server_without_client_config_gets_the_key() -> None:
    responses.post(f"{BASE}/api/v1/client/config", status=404, json={"detail": "no"})
    responses.get(RUNS, json=EMPTY_RUNS)
    with tinkex.RestClient(base_url=BASE, api_key=KEY) as rest:
        rest.list_training_runs().result()
    assert responses.calls[-1].request.headers["X-API-Key"] == KEY


def test_against_an_emulator_that_refuses_tokens_every_call_still_succeeds(tmp_path) -> None:
    from tinkex.emulator import Emulator, EmulatorConfig
    from tinkex.emulator.config import FaultConfig

    config = EmulatorConfig(data_dir=tmp_path, hf_cache="off",
                            faults=FaultConfig(refuse_jwt_every=3))
    with Emulator(config) as emulator, \
            tinkex.RestClient(base_url=emulator.base_url, api_key=KEY) as rest:
        assert rest.whoami().result().user_urn.startswith("tml:user:")
        for _ in range(10):  # every third is refused as invalid_token, then replayed
            assert rest.list_training_runs().result().training_runs == []
        assert rest._ctx.credentials is not None and rest._ctx.credentials.enabled
