"""Transport: one pooled session per document pool, timeouts on every request, no shared state."""

from __future__ import annotations

import pickle
import threading

import pytest
import requests
import responses

from tinkex.core.errors import APIStatusError, ClientClosedError
from tinkex.core.options import RequestOptions
from tinkex.core.transport import Headers, PoolSpec, Response, Timeout, Transport, new_session

from .conftest import BASE

PET = {"id": 1, "name": "Rex", "species": "dog"}


class RecordingFactory:
    """Makes real sessions (``new_session``) and remembers which pool asked."""

    def __init__(self) -> None:
        self.made: list[tuple[str, requests.Session]] = []
        self.lock = threading.Lock()

    def __call__(self, pool: PoolSpec) -> requests.Session:
        session = new_session(pool)
        with self.lock:
            self.made.append((pool.name, session))
        return session


def _transport(factory: RecordingFactory) -> Transport:
    pools = {"main": PoolSpec("main", 4), "polling": PoolSpec("polling", 7)}
    return Transport(pools, BASE, session_factory=factory)


def _get(transport: Transport, pool: str = "main", url: str = f"{BASE}/pets/1") -> Response:
    return transport.request(pool, "GET", url, headers={}, params=None, content=None,
                             timeout=Timeout(1, 2))


def test_sessions_are_lazy_one_per_pool_and_shared_by_threads():
    factory = RecordingFactory()
    transport = _transport(factory)
    assert factory.made == []
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        threads = [threading.Thread(target=_get, args=(transport,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _get(transport, "polling")
        assert len(mock.calls) == 9
    assert sorted(name for name, _ in factory.made) == ["main", "polling"]
    transport.close()


def test_adapters_keep_pool_size_and_never_retry():
    session = new_session(PoolSpec("p", 7))
    for prefix in ("http://", "https://"):
        adapter = session.get_adapter(prefix + "example.test")
        assert adapter.max_retries.total == 0
        assert (adapter._pool_connections, adapter._pool_maxsize, adapter._pool_block) == (1, 7, False)
    session.close()


def test_every_request_has_the_operation_timeout(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        mock.post(f"{BASE}/jobs/poll")
        engine.call("get_pet", pet_id=1)
        engine.call("get_job", job_id="j")  # x-tinkex-timeout: {read: 5}
        engine.call("get_pet", RequestOptions(timeout=3), pet_id=1)
        engine.call("get_pet", RequestOptions(timeout=(0.5, 30)), pet_id=1)
        timeouts = [c.request.req_kwargs["timeout"] for c in mock.calls]
    assert len(timeouts) == 4 and timeouts == [(2.0, 10.0), (2.0, 5.0), (3.0, 3.0), (0.5, 30.0)]


def test_client_timeout_replaces_the_default_but_not_operation_overrides(make_engine):
    engine = make_engine(timeout=(1.0, 20.0))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        mock.post(f"{BASE}/jobs/poll")
        engine.call("get_pet", pet_id=1)
        engine.call("get_job", job_id="j")
        assert [c.request.req_kwargs["timeout"] for c in mock.calls] == [(1.0, 20.0), (1.0, 5.0)]


def test_proxies_from_the_environment_are_read_once(monkeypatch, make_engine):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        engine.call("get_pet", pet_id=1)
        monkeypatch.setenv("HTTP_PROXY", "http://other.test:1")
        engine.call("get_pet", pet_id=1)
        proxies = [dict(c.request.req_kwargs["proxies"]) for c in mock.calls]
    assert len(proxies) == 2 and proxies == [{"http": "http://proxy.test:3128"}] * 2


def test_cookies_are_never_kept(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET, headers={"Set-Cookie": "sid=abc; Path=/"})
        engine.call("get_pet", pet_id=1)
        engine.call("get_pet", pet_id=1)
        assert "Cookie" not in mock.calls[1].request.headers


def test_redirects_are_returned_not_followed(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", status=302, headers={"Location": "http://elsewhere.test/"})
        response = engine.send_once("get_pet", path_params={"pet_id": 1})
        assert response.status == 302 and response.headers["location"] == "http://elsewhere.test/"
        with pytest.raises(APIStatusError):
            engine.send("get_pet", path_params={"pet_id": 1})
        assert len(mock.calls) == 2


def test_send_once_returns_error_statuses_and_sends_the_standard_headers(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/pets", status=503)
        response = engine.send_once("create_pet", body={"name": "a", "species": "cat"},
                                    headers={"X-Extra": "1", "Accept": None})
        assert len(mock.calls) == 1
        request = mock.calls[0].request
    assert response.status == 503
    assert request.headers["X-Retry-Count"] == "0" and request.headers["Idempotency-Key"]
    assert request.headers["X-Pet-Token"] == "pet-CANARY-123456"
    assert request.headers["User-Agent"] == "petstore-client/0"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Extra"] == "1" and "Accept" not in request.headers
    assert request.body == b'{"name":"a","species":"cat"}'


def test_bytes_bodies_keep_their_media_type_and_others_are_refused(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/pets", json=PET)
        engine.send("create_pet", body=b'{"name":"a","species":"cat"}', content_type="application/json")
        assert mock.calls[0].request.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError, match="create_pet accepts application/json, not text/plain"):
        engine.send("create_pet", body=b"x", content_type="text/plain")


def test_closed_transport_refuses_requests_and_fork_reset_rebuilds_sessions():
    factory = RecordingFactory()
    transport = _transport(factory)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", json=PET)
        _get(transport)
        transport.reset_after_fork()
        _get(transport)
    assert [name for name, _ in factory.made] == ["main", "main"]
    transport.close()
    with pytest.raises(ClientClosedError):
        _get(transport)


def test_response_is_an_immutable_picklable_value():
    response = Response(200, Headers([("Content-Type", "application/json; charset=latin-1")]),
                        '{"a": "é"}'.encode("latin-1"), 0.01, "GET", "http://x.test/a")
    assert response.headers["content-type"].startswith("application/json")
    assert "CONTENT-TYPE" in response.headers and list(response.headers) == ["Content-Type"]
    assert response.text == '{"a": "é"}' and response.ok
    with pytest.raises(TypeError):
        response.headers["x"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        response.status = 500  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(response)) == response


def test_the_url_of_a_response_has_no_query(make_engine):
    engine = make_engine()
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets", json={"pets": [], "page": {"offset": 0, "limit": 2, "total_count": 0}})
        response = engine.send("list_pets", query={"token": "secret-in-query"})
        assert "token=secret-in-query" in mock.calls[0].request.url
    assert response.url == f"{BASE}/pets"
