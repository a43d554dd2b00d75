"""Raw responses: ``with_raw_response`` on every low-level method (petstore, fake clock)."""

from __future__ import annotations

import pytest
import responses
from responses import registries

from tinkex.core.api import build_api
from tinkex.core.engine import EngineHooks
from tinkex.core.errors import APIResponseValidationError, NotFoundError
from tinkex.core.raw import RawResponse

from .conftest import BASE

PET = {"id": 1, "name": "Rex", "species": "dog"}


@pytest.fixture
def mock():
    with responses.RequestsMock(registry=registries.OrderedRegistry) as rsps:
        yield rsps


@pytest.fixture
def api(make_engine):
    engine = make_engine()
    return build_api(engine.table)(engine)


def test_a_raw_response_has_status_headers_url_attempts_and_parses(mock, api, pet_models, clock):
    mock.get(f"{BASE}/pets/1", status=503)
    mock.get(f"{BASE}/pets/1", json=PET, headers={"X-Request-Id": "r-7"})
    raw = api.pets.with_raw_response.get(pet_id=1)
    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200 and raw.method == "GET" and raw.url == f"{BASE}/pets/1"
    assert raw.headers["x-request-id"] == "r-7"
    assert raw.attempts == 2 and raw.retries_taken == 1
    assert raw.elapsed == pytest.approx(0.01)  # the fake clock moved only by the backoff
    assert raw.json() == PET and raw.content == raw.read() and '"Rex"' in raw.text
    pet = raw.parse()
    assert isinstance(pet, pet_models.Pet) and pet.name == "Rex"
    assert raw.parse() is pet  # parsed once
    assert "get_pet" in repr(raw) and "2 attempt(s)" in repr(raw)


def test_the_client_level_view_reaches_every_group(mock, api):
    mock.post(f"{BASE}/pets", json=PET, status=200)
    raw = api.with_raw_response.pets.create(name="Rex", species="dog",
                                            extra_headers={"X-Trace": "t"})
    assert raw.status_code == 200 and raw.parse().id == 1
    assert mock.calls[0].request.headers["X-Trace"] == "t"
    assert type(api.with_raw_response).__name__ == "PetStoreAPIWithRawResponse"
    assert type(api.pets.with_raw_response).__name__ == "PetsAPIWithRawResponse"


def test_an_error_status_still_raises_and_a_bad_body_fails_on_parse(mock, api):
    mock.get(f"{BASE}/pets/9", status=404, json={"detail": "no such pet"})
    with pytest.raises(NotFoundError):
        api.pets.with_raw_response.get(pet_id=9)
    mock.get(f"{BASE}/pets/2", json={"id": "not a number"})
    raw = api.pets.with_raw_response.get(pet_id=2)
    assert raw.status_code == 200
    with pytest.raises(APIResponseValidationError, match="not a valid Pet"):
        raw.parse()


def test_a_future_operation_gives_its_handle_and_is_not_polled(mock, make_engine, pet_models):
    class NeverPolled:
        def resolve(self, *args: object) -> None:
            pytest.fail("a raw response must not be polled")

    engine = make_engine(hooks=EngineHooks(future_resolver=lambda engine: NeverPolled()))
    mock.post(f"{BASE}/groom", json={"job_id": "j1"})
    raw = build_api(engine.table)(engine).pets.with_raw_response.groom(pet_id=1)
    assert raw.parse() == pet_models.JobHandle(job_id="j1")


def test_an_operation_without_a_result_parses_to_none(mock, make_engine):
    mock.post(f"{BASE}/jobs/poll", json={"anything": 1})
    raw = make_engine().call_raw("get_job", job_id="j")
    assert raw.parse() is None and raw.json() == {"anything": 1}
