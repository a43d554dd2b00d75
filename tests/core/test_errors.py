"""Errors: status -> class from the document, messages, redaction, wrapping, pickling."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import requests
import responses

from tinkex.core import errors as E
from tinkex.core.errors import DocumentError, RequestInfo, error_categories
from tinkex.core.transport import Headers, Response

from .conftest import BASE, CANARY

RequestErrorCategory: Any = error_categories(["user", "server", "unknown"], "unknown")

FULL_MAP = [
    {"status": 400, "exception": "BadRequestError"},
    {"status": 401, "exception": "AuthenticationError"},
    {"status": 402, "exception": "BillingError"},
    {"status": 403, "exception": "PermissionDeniedError"},
    {"status": 404, "exception": "NotFoundError"},
    {"status": 409, "exception": "ConflictError"},
    {"status": 410, "exception": "FutureExpiredError"},
    {"status": 422, "exception": "UnprocessableEntityError"},
    {"status": 429, "exception": "RateLimitError"},
    {"status": 503, "exception": "APIStatusError", "retryable": True},
    {"status": "5XX", "exception": "InternalServerError", "retryable": True},
]


def full_map(doc: dict[str, Any]) -> None:
    doc["x-tinkex-errors"]["map"] = FULL_MAP
    doc["x-tinkex-retry-policies"]["standard"]["statuses"] = []


@pytest.mark.parametrize(("status", "cls"), [
    (400, E.BadRequestError), (401, E.AuthenticationError), (402, E.BillingError),
    (403, E.PermissionDeniedError), (404, E.NotFoundError), (409, E.ConflictError),
    (410, E.FutureExpiredError), (422, E.UnprocessableEntityError), (429, E.RateLimitError),
    (500, E.InternalServerError), (502, E.InternalServerError), (599, E.InternalServerError),
    (503, E.APIStatusError),  # an exact status wins over its class
    (418, E.APIStatusError), (302, E.APIStatusError),
])
def test_every_status_maps_to_the_class_the_document_names(variant, make_engine, status, cls):
    engine = make_engine(variant(full_map))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", status=status, json={"detail": "nope"})
        with pytest.raises(E.APIStatusError) as info:
            engine.call("get_pet", pet_id=1)
    assert type(info.value) is cls
    assert info.value.status_code == status and info.value.response.status == status
    assert info.value.retryable is (status >= 500)


@pytest.mark.parametrize(("body", "detail"), [
    ({"detail": "pet 7 is gone"}, "pet 7 is gone"),
    ({"error": {"code": "E1"}}, '{"code":"E1"}'),
    ({"message": "hello", "detail": None}, "hello"),
    ("plain text problem", "plain text problem"),
])
def test_message_carries_operation_method_path_status_and_detail(make_engine, body, detail):
    with responses.RequestsMock() as mock:
        kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
        mock.get(f"{BASE}/pets/7", status=404, **kwargs)
        with pytest.raises(E.NotFoundError) as info:
            make_engine().call("get_pet", pet_id=7)
    assert str(info.value) == f"get_pet: GET /pets/7 -> HTTP 404: {detail}"
    assert info.value.request == RequestInfo("GET", f"{BASE}/pets/7")
    assert info.value.body == body


def test_long_details_are_truncated(make_engine):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/7", status=400, json={"detail": "x" * 5000})
        with pytest.raises(E.BadRequestError) as info:
            make_engine().call("get_pet", pet_id=7)
    assert len(str(info.value)) < 600 and str(info.value).endswith("x…")


def test_secrets_echoed_by_the_server_are_redacted(make_engine):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/7", status=400, json={"detail": f"bad key {CANARY}"})
        with pytest.raises(E.BadRequestError) as info:
            make_engine().call("get_pet", pet_id=7)
    assert CANARY not in str(info.value) and "pet-…(redacted)" in str(info.value)


@pytest.mark.parametrize(("raised", "wrapped"), [
    (requests.ConnectionError("refused"), E.APIConnectionError),
    (requests.ConnectTimeout("slow connect"), E.APITimeoutError),
    (requests.ReadTimeout("slow read"), E.APITimeoutError),
    (requests.exceptions.ChunkedEncodingError("cut"), E.APIConnectionError),
    (requests.exceptions.ContentDecodingError("gzip"), E.APIConnectionError),
    (requests.exceptions.InvalidURL("bad"), E.APIConnectionError),
    (requests.exceptions.SSLError("tls"), E.APIConnectionError),
    (requests.exceptions.ProxyError("proxy"), E.APIConnectionError),
    (requests.exceptions.InvalidHeader("hdr"), E.APIConnectionError),
    (ConnectionResetError("reset"), E.APIConnectionError),
])
def test_transport_exceptions_never_reach_callers(make_engine, raised, wrapped):
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/jobs/poll", body=raised)
        with pytest.raises(E.APIConnectionError) as info:
            make_engine().call("get_job", job_id="j")
    assert type(info.value) is wrapped and info.value.__cause__ is raised
    assert "POST http://pets.test/jobs/poll" in str(info.value)


@pytest.mark.parametrize("body", [b'{"id": 1}', b"<html>oops</html>", b'{"id": "x", "name": "", "species": "cow"}'])
def test_a_2xx_body_that_does_not_fit_the_result_type(make_engine, body):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", body=body, content_type="application/json")
        with pytest.raises(E.APIResponseValidationError) as info:
            make_engine().call("get_pet", pet_id=1)
    assert "get_pet: the response is not a valid Pet" in str(info.value)
    assert info.value.status_code == 200 and info.value.response.content == body


def test_the_document_names_its_own_exception_classes(variant, make_engine):
    def change(doc):
        doc["x-tinkex-errors"]["map"] = [{"status": 418, "exception": "TeapotError"}]
    engine = make_engine(variant(change))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/pets/1", status=418, json={"detail": "short and stout"})
        with pytest.raises(E.APIStatusError) as info:
            engine.call("get_pet", pet_id=1)
    teapot = type(info.value)
    assert teapot.__name__ == "TeapotError" and teapot is E.status_error("TeapotError")
    assert teapot is not E.APIStatusError and E.TeapotError is teapot  # type: ignore[attr-defined]
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is teapot and again.status_code == 418


def test_document_naming_a_class_that_is_not_a_status_error_is_refused(variant):
    def change(doc):
        doc["x-tinkex-errors"]["map"][0]["exception"] = "ConfigError"
    with pytest.raises(DocumentError) as info:
        variant(change)
    assert ("<root>.x-tinkex-errors.map[0].exception: 'ConfigError' is not an HTTP status "
            "error class") in str(info.value)


def test_category_parsing_is_lenient():
    assert RequestErrorCategory.parse("User") is RequestErrorCategory.USER
    assert RequestErrorCategory.parse(None) is RequestErrorCategory.UNKNOWN
    assert error_categories(("user", "server", "unknown"), "unknown") is RequestErrorCategory
    assert RequestErrorCategory.Server is RequestErrorCategory.SERVER  # the official spellings


RESPONSE = Response(429, Headers([("Retry-After", "1")]), b'{"detail":"slow"}', 0.1, "POST",
                    "http://x.test/a")
REQUEST = RequestInfo("POST", "http://x.test/a")


def _every_error() -> list[E.SDKError]:
    connection = E.APIConnectionError("down", request=REQUEST)
    connection.record_attempts(3, 1.5, 503, exhausted=True)
    status = [cls("m", response=RESPONSE, body={"detail": "slow"}, request=REQUEST, retryable=True)
              for cls in E.STATUS_ERRORS.values()]
    return [
        E.SDKError("root"), E.ConfigError("cfg"), E.ClientClosedError("closed"),
        E.DocumentError(["a: b", "c: d"], "doc.json"), E.APIError("api", REQUEST, {"x": 1}),
        connection, E.APITimeoutError("slow", request=REQUEST),
        E.APIResponseValidationError("bad", response=RESPONSE, body=[1], request=REQUEST),
        E.APIStatusError("s", status_code=418),
        E.RequestFailedError("failed", "req-1", RequestErrorCategory.USER),
        *status,
    ]


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_with_its_attributes(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args and str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_pickled_attributes_survive_in_detail():
    error = _every_error()[5]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.attempts, copy.elapsed, copy.last_status) == (3, 1.5, 503)
    assert "retries exhausted: 3 attempts in 1.50 s, last status 503" in str(copy)
    failed = pickle.loads(pickle.dumps(E.RequestFailedError("f", "r", RequestErrorCategory.SERVER)))
    assert (failed.request_id, failed.category) == ("r", RequestErrorCategory.SERVER)
    status = pickle.loads(pickle.dumps(_every_error()[-1]))
    assert status.response.headers["retry-after"] == "1" and status.retryable
