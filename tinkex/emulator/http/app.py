"""The ASGI application: routes from the compiled document, validation, errors.

Every path and method of ``tinkex/_spec/openapi.json`` becomes a route that
dispatches to the handler registered under its ``operationId``; building the
app fails if the two sets differ. Requests are checked the way a lenient real
server would: path and query parameters against their schemas, JSON bodies
against the generated pydantic models (which fill in defaults and infer
missing chunk ``type`` fields, so SDK 0.3 - 0.16 bodies pass); protobuf bodies
(``forward_backward``) are decoded by ``encoding.py``. Bad input is a 400/422
(415 for a media type the operation does not take) whose ``detail`` names the
problem; only a bug yields a 500.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tinkex.core.model import Param
from tinkex.emulator.errors import HTTPProblem

from . import encoding, served
from .console.pages import routes as console_routes
from .faults import DropConnections, applies_to
from .handlers import HANDLERS, RAW_CHECKS, Call, check_registry
from .handlers.rest import download_archive
from .handlers.sessions import download_trace
from .handlers.weights import download_external
from .served import ServedOperation
from .services import Services

log = logging.getLogger("tinkex.emulator")

_INT64 = (-(2**63), 2**63 - 1)


def error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def to_response(result: Any) -> Response:
    """Handlers return a model, a plain JSON value, ``None`` (an empty object) or a Response."""
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json", exclude_none=True)
    return JSONResponse({} if result is None else result)


def _field_error(loc: list[Any], msg: str, kind: str = "value_error") -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": msg, "type": kind}]


def _check_json(value: Any, loc: list[Any]) -> None:
    """Refuse values that JSON allows but no real server stores: huge ints, lone surrogates."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise HTTPProblem(422, _field_error(loc, "integer does not fit in 64 bits"))
    if isinstance(value, float) and not math.isfinite(value):
        raise HTTPProblem(422, _field_error(loc, "number must be finite"))
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPProblem(422, _field_error(loc, "string is not valid UTF-8")) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, loc)
            _check_json(item, [*loc, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, [*loc, i])


def _check_range(value: int, schema: Mapping[str, Any], loc: list[Any]) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and value < low:
        raise HTTPProblem(422, _field_error(loc, f"must be >= {low}", "greater_than_equal"))
    if high is not None and value > high:
        raise HTTPProblem(422, _field_error(loc, f"must be <= {high}", "less_than_equal"))


def _coerce_param(param: Param, raw: str) -> Any:
    schema = param.schema
    loc = [param.location, param.wire_name]
    if schema.get("type") == "integer":
        try:
            value = int(raw)
        except ValueError:
            raise HTTPProblem(422, _field_error(loc, "value is not a valid integer",
                                                "int_parsing")) from None
        _check_json(value, loc)
        _check_range(value, schema, loc)
        return value
    if "enum" in schema and raw not in schema["enum"]:
        allowed = ", ".join(map(str, schema["enum"]))
        raise HTTPProblem(422, _field_error(loc, f"must be one of: {allowed}", "enum"))
    return raw


def parse_params(op: ServedOperation, request: Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param in op.params:
        source = request.path_params if param.location == "path" else request.query_params
        raw = source.get(param.wire_name)
        if raw is None:
            if param.required:
                raise HTTPProblem(422, _field_error([param.location, param.wire_name],
                                                    "field required", "missing"))
            values[param.wire_name] = param.schema.get("default")
        else:
            values[param.wire_name] = _coerce_param(param, raw)
    return values


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_big = HTTPProblem(413, f"request body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(op: ServedOperation, request: Request, limit: int) -> Any:
    if op.body_model is None:
        return None
    raw = await read_body(request, limit)
    if encoding.is_protobuf(request.headers.get("content-type")):
        return encoding.decode_request(op.operation.id, raw,
                                       request.headers.get("content-encoding"))
    try:
        data = json.loads(raw)
        _check_json(data, ["body"])
    except RecursionError:
        raise HTTPProblem(400, "request body is nested too deeply") from None
    except ValueError as e:
        msg = "request body is required" if not raw.strip() else f"malformed JSON body: {e}"
        raise HTTPProblem(400, msg) from None
    raw_check = RAW_CHECKS.get(op.operation.id)
    if raw_check is not None:
        raw_check(data)
    try:
        return op.body_model.model_validate(data)
    except ValidationError as e:
        raise HTTPProblem(422, [{"loc": ["body", *err["loc"]], "msg": err["msg"],
                                 "type": err["type"]} for err in e.errors()]) from None


Endpoint = Callable[[Request], Awaitable[Response]]


def _endpoint(services: Services, ops: dict[str, ServedOperation]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        served_op = ops[request.method]
        op = served_op.operation
        trace = request.headers.get("traceparent")
        if trace is not None and log.isEnabledFor(logging.INFO):  # joins the caller's trace
            log.info("%s %s (%s) traceparent=%s", request.method, request.url.path,
                     op.id, trace)
        try:
            if op.id not in HANDLERS:
                raise HTTPProblem(501, f"the emulator does not implement operation "
                                       f"{op.id!r} ({request.method} {op.path})",
                                  {"x-should-retry": "false"})  # asking again will not help
            if applies_to(op.path):
                await services.faults.before_operation(op.id)
            identity = services.auth.identify(request.headers) if op.auth else None
            call = Call(owner=identity.owner if identity else "", identity=identity,
                        params=parse_params(served_op, request),
                        body=await parse_body(served_op, request,
                                              services.config.max_body_bytes),
                        request=request)
            seq_field = served_op.sequence_field
            resent = (services.resent(call.owner, getattr(call.body, "model_id", None),
                                      getattr(call.body, seq_field, None))
                      if seq_field is not None else None)
            result = resent or HANDLERS[op.id](services, call)
            if inspect.isawaitable(result):
                result = await result
            return to_response(result)
        except HTTPProblem as e:
            return error_response(e.status, e.detail, e.headers)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(500, "internal server error")

    return endpoint


async def _not_routed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, dict(exc.headers or {}))


def build_app(services: Services) -> Any:
    """The ASGI app (Starlette inside the connection-dropping fault layer)."""
    operations = served.operations()
    check_registry(s.operation for s in operations)
    by_path: dict[str, dict[str, ServedOperation]] = defaultdict(dict)
    for s in operations:
        by_path[s.operation.path][s.operation.method] = s
    routes: list[BaseRoute] = [Route(path, _endpoint(services, ops), methods=list(ops))
                               for path, ops in by_path.items()]

    async def openapi(request: Request) -> Response:
        return Response(served.document_bytes(), media_type="application/json")

    def download(fetch: Callable[..., Awaitable[Response]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                return await fetch(services, **request.path_params)
            except HTTPProblem as e:
                return error_response(e.status, e.detail)
        return endpoint

    # Signed download URLs (archives, external weights, traces): no API key, like a
    # presigned storage URL; the token in the path is the authorization.
    routes += [Route("/openapi.json", openapi, methods=["GET"]),
               Route("/_emulator/archives/{token}", download(download_archive), methods=["GET"]),
               Route("/_emulator/external/{token}/{name}", download(download_external),
                     methods=["GET"]),
               Route("/_emulator/traces/{token}", download(download_trace), methods=["GET"]),
               *console_routes(services)]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_routed})
    return DropConnections(app, services.faults)
