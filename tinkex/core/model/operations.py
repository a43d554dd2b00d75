"""The immutable table of operations, built once from a validated document.

Everything per-call code needs is resolved here, ahead of time: parameter
locations, wire names, styles and Python names, body fields, result type, pool,
the retry policy object, the merged timeout, idempotency, security,
future/sequence/pagination semantics and the SDK name. Codegen's ``.pyi`` stub
is written from this same table, so stub and runtime cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..breaker import BreakerSpec
from ..errors import ErrorMap
from ..paramstyle import DEFAULT_STYLE, default_explode
from ..ratelimit import RateLimitSpec
from ..retry import RetryPolicy
from ..security import SecurityScheme
from ..tracing import TracingSpec
from .document import (
    SCHEMA_PREFIX,
    ApiSpec,
    AuthSpec,
    DispatchLimitSpec,
    FutureSpec,
    IdempotencySpec,
    SessionSpec,
    Source,
    TelemetrySpec,
    iter_operations,
    load_document,
    parse_api,
    parse_auth,
    parse_dispatch_limit,
    parse_futures,
    parse_idempotency,
    parse_session,
    parse_telemetry,
)
from .naming import class_names, keyword_names, python_name
from .pools import PoolSpec, Timeout, TimeoutOverride

__all__ = ["JSON", "ChunkingSpec", "Operation", "OperationTable", "Param", "ProtobufSpec",
           "allows_null", "load_table", "python_name",
           "success_response"]

JSON = "application/json"
WHOLE_BODY = "body"
"""Keyword of an operation whose body is not an object with properties: the body itself."""


@dataclass(frozen=True)
class Param:
    """One keyword of an operation's method: where it goes on the wire and under which name.

    ``location`` is ``path``, ``query``, ``header``, ``cookie``, ``body`` (one
    field of an object body) or ``payload`` (the whole body).
    """

    name: str
    wire_name: str
    location: str
    required: bool
    default: Any
    style: str = "simple"
    explode: bool = False
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FutureResultSpec:
    """The operation answers with a handle; the result (of ``result_type``) is polled for."""

    result_type: str
    request_type: str | None
    result_media: tuple[str, ...]


@dataclass(frozen=True)
class StreamSpec:
    """The 2xx body is a stream of ``event_type`` events in ``format`` (``sse`` / ``ndjson``)."""

    format: str
    event_type: str
    error_event: str | None
    """An SSE event name that reports a failure (raised as StreamError)."""


@dataclass(frozen=True)
class BodyEncoding:
    """A body that is not JSON: a ``multipart`` form (``file_fields`` are files) or ``raw``."""

    type: str
    media: str
    file_fields: frozenset[str]
    """Wire names of the multipart fields that are files (binary strings, or lists of them)."""


RAW_CONTENT = "content"
"""The keyword that carries a raw body."""
MULTIPART = "multipart/form-data"


@dataclass(frozen=True)
class SequenceSpec:
    """A body ``field`` numbered per value of the body field ``scope``, submitted in order."""

    field: str
    scope: str
    start: int
    ordered: bool
    clone_block: int | None = None
    """Copy ``k`` (>= 1) of a client in another process numbers from ``k * clone_block``."""


@dataclass(frozen=True)
class PaginationSpec:
    """Offset/limit paging: parameter names, and dotted paths to the items and total in a page."""

    offset: str
    limit: str
    items: str
    total: str | None


@dataclass(frozen=True)
class ChunkingSpec:
    """How a batch call is split into requests: at most ``max_items`` items and ``max_bytes``
    estimated bytes each; the ``bytes_per_*`` weights estimate a JSON request's size."""

    max_items: int
    max_bytes: int
    bytes_per_token: int | None = None
    bytes_per_element: int | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> ChunkingSpec | None:
        if not spec:
            return None
        return cls(spec["max_items"], spec["max_bytes"], spec.get("bytes_per_token"),
                   spec.get("bytes_per_element"))


@dataclass(frozen=True)
class ProtobufSpec:
    """The protobuf messages of an operation (``x-tinkex-protobuf``): of its request body, of its
    future's result, and the operation its protobuf request is sent to (``send_as``)."""

    request: str | None = None
    result: str | None = None
    send_as: str | None = None


@dataclass(frozen=True)
class SdkGroup:
    name: str
    class_name: str
    description: str | None


@dataclass(frozen=True)
class Operation:
    """Everything about one operation that a call needs, resolved once."""

    id: str
    method: str
    path: str
    summary: str | None
    deprecated: bool
    params: tuple[Param, ...]
    """In method-signature order: required first, then optional."""
    body_type: str | None
    result_type: str | None
    pool: str
    retry: RetryPolicy
    timeout: Timeout
    timeout_override: TimeoutOverride | None
    idempotent: bool
    auth: bool
    future: FutureResultSpec | None
    sequence: SequenceSpec | None
    pagination: PaginationSpec | None
    dispatch: str | None
    circuit_breaker: str | None
    """The breaker (``x-tinkex-circuit-breakers``) guarding it, if any."""
    rate_limited: bool
    """Waits out the API key's shared rate-limit window before each attempt."""
    stream: StreamSpec | None
    body_encoding: BodyEncoding | None
    sdk_group: str
    sdk_method: str
    sdk_client: str | None
    """The domain client class with a generated pass-through method for it, if any."""
    request_media: tuple[str, ...]
    security: tuple[tuple[str, ...], ...] = ()
    """Alternatives (any one will do), each the scheme names that are all sent; () = no auth."""
    success_status: str = "200"
    poll_interval: float | None = None
    """Seconds between calls while the answer is not final (``x-tinkex-poll-interval``)."""
    result_schema: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The JSON schema of the success answer's body (None: no JSON body)."""
    chunking: ChunkingSpec | None = None
    """How a batch for it is split into requests (``x-tinkex-chunking``)."""
    protobuf: ProtobufSpec | None = None

    def params_in(self, location: str) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == location)

    def body_constants(self) -> dict[str, Any]:
        """The body fields whose schema fixes their value (``const``), e.g. a discriminator."""
        return {p.wire_name: p.schema["const"] for p in self.params_in("body")
                if "const" in p.schema}


@dataclass(frozen=True)
class OperationTable:
    """All operations (by id and by SDK group/method) and the document's root sections."""

    document: Mapping[str, Any]
    """The validated source document; shared, do not mutate."""
    operations: Mapping[str, Operation]
    api: ApiSpec
    auth: AuthSpec
    idempotency: IdempotencySpec | None
    pools: Mapping[str, PoolSpec]
    retry_policies: Mapping[str, RetryPolicy]
    default_timeout: Timeout
    futures: FutureSpec | None
    session: SessionSpec | None
    telemetry: TelemetrySpec | None
    dispatch_limits: Mapping[str, DispatchLimitSpec]
    rate_limit: RateLimitSpec | None
    circuit_breakers: Mapping[str, BreakerSpec]
    tracing: TracingSpec | None
    errors: ErrorMap
    client_class: str
    groups: tuple[SdkGroup, ...]
    type_names: frozenset[str]
    security_schemes: Mapping[str, SecurityScheme] = field(default_factory=dict)
    server_variables: Mapping[str, str] = field(default_factory=dict)
    """Default value of each ``{variable}`` of the server URL."""
    class_names: Mapping[str, str] = field(default_factory=dict)
    """The model class name of each schema (``naming.class_names``, in document order)."""
    _by_sdk: Mapping[tuple[str, str], Operation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_sdk = {(op.sdk_group, op.sdk_method): op for op in self.operations.values()}
        object.__setattr__(self, "_by_sdk", MappingProxyType(by_sdk))

    @classmethod
    def load(cls, source: Source, *, extension_schemas: Source | None = None,
             check_schemas: bool = True) -> OperationTable:
        """Load, validate and index a document (a mapping or a JSON file).

        ``check_schemas=False``: see :func:`~tinkex.core.model.document.load_document`.
        """
        return build_table(load_document(source, extension_schemas=extension_schemas,
                                         check_schemas=check_schemas))

    def __getitem__(self, operation_id: str) -> Operation:
        return self.operations[operation_id]

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self.operations

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations.values())

    def __len__(self) -> int:
        return len(self.operations)

    def by_sdk(self, group: str, method: str) -> Operation:
        """The operation behind ``api.<group>.<method>``."""
        return self._by_sdk[(group, method)]


def build_table(doc: Mapping[str, Any]) -> OperationTable:
    """Index a document that ``load_document`` accepted."""
    defaults = doc["x-tinkex-defaults"]
    policies = {name: RetryPolicy.from_spec(name, spec)
                for name, spec in doc["x-tinkex-retry-policies"].items()}
    default_timeout = Timeout(float(defaults["timeout"].get("connect", 5.0)),
                              float(defaults["timeout"].get("read", 60.0)))
    models = frozenset((doc.get("components") or {}).get("schemas") or {})
    root_security = _alternatives(doc.get("security"))
    operations = {}
    for path, method, raw in iter_operations(doc):
        policy = policies[raw.get("x-tinkex-retry", defaults["retry"])]
        op = _operation(doc, path, method, raw, policy, raw.get("x-tinkex-pool", defaults["pool"]),
                        default_timeout, root_security,
                        raw.get("x-tinkex-circuit-breaker", defaults.get("circuit_breaker")),
                        "x-tinkex-rate-limit" in doc)
        operations[op.id] = op
    schemes = ((doc.get("components") or {}).get("securitySchemes") or {})
    server = (doc.get("servers") or [{}])[0]
    sdk = doc["x-tinkex-sdk-groups"]
    return OperationTable(
        document=doc,
        operations=MappingProxyType(operations),
        api=parse_api(doc),
        auth=parse_auth(doc["x-tinkex-auth"]),
        idempotency=parse_idempotency(doc.get("x-tinkex-idempotency")),
        pools=MappingProxyType({name: PoolSpec(name, spec["connections"])
                                for name, spec in doc["x-tinkex-pools"].items()}),
        retry_policies=MappingProxyType(policies),
        default_timeout=default_timeout,
        futures=parse_futures(doc.get("x-tinkex-futures")),
        session=parse_session(doc.get("x-tinkex-session")),
        telemetry=parse_telemetry(doc.get("x-tinkex-telemetry")),
        dispatch_limits=MappingProxyType({
            name: parse_dispatch_limit(name, spec)
            for name, spec in (doc.get("x-tinkex-dispatch-limits") or {}).items()}),
        rate_limit=RateLimitSpec.from_spec(doc.get("x-tinkex-rate-limit")),
        tracing=TracingSpec.from_spec(doc.get("x-tinkex-tracing")),
        circuit_breakers=MappingProxyType({
            name: BreakerSpec.from_spec(name, spec)
            for name, spec in (doc.get("x-tinkex-circuit-breakers") or {}).items()}),
        errors=ErrorMap.from_spec(doc["x-tinkex-errors"]["map"]),
        client_class=sdk["client_class"],
        groups=tuple(SdkGroup(name, g["class_name"], g.get("description"))
                     for name, g in sdk["groups"].items()),
        type_names=models,
        security_schemes=MappingProxyType({name: SecurityScheme.from_spec(name, spec)
                                           for name, spec in schemes.items()}),
        server_variables=MappingProxyType({
            name: str(var.get("default", ""))
            for name, var in (server.get("variables") or {}).items()}),
        class_names=MappingProxyType(class_names((doc.get("components") or {}).get("schemas") or {})),
    )


def _operation(doc: Mapping[str, Any], path: str, method: str, raw: Mapping[str, Any],
               policy: RetryPolicy, pool: str, default_timeout: Timeout,
               root_security: tuple[tuple[str, ...], ...], breaker: str | None,
               rate_limit: bool) -> Operation:
    content = (raw.get("requestBody") or {}).get("content") or {}
    schemas = (doc.get("components") or {}).get("schemas") or {}
    enc = raw.get("x-tinkex-body-encoding")
    body_media = MULTIPART if enc and enc["type"] == "multipart" else JSON
    body_schema = (content.get(body_media) or {}).get("schema") if not (
        enc and enc["type"] == "raw") else None
    body_type = _ref_name(body_schema)
    encoding = None
    if enc:
        media = next(iter(content), MULTIPART) if enc["type"] == "raw" else MULTIPART
        encoding = BodyEncoding(enc["type"], media,
                                file_fields(schemas.get(body_type or "", {}), schemas))
    status, ok_response = success_response(raw)
    ok = ok_response.get("content") or {}
    result_schema = (ok.get(JSON) or {}).get("schema")
    seq = raw.get("x-tinkex-sequence")
    sequence = (SequenceSpec(seq["field"], seq["scope"], seq.get("start", 0),
                             seq.get("ordered", True), seq.get("clone_block")) if seq else None)
    fut = raw.get("x-tinkex-future")
    future = (FutureResultSpec(fut["result"], fut.get("request_type"),
                               tuple(fut.get("result_media") or (JSON,))) if fut else None)
    st = raw.get("x-tinkex-stream")
    stream = StreamSpec(st["format"], st["event"], st.get("error_event")) if st else None
    pag = raw.get("x-tinkex-pagination")
    pagination = (PaginationSpec(pag["offset"], pag["limit"], pag["items"], pag.get("total"))
                  if pag else None)
    over = raw.get("x-tinkex-timeout")
    override = TimeoutOverride(*(None if over.get(k) is None else float(over[k])
                                 for k in ("connect", "read"))) if over else None
    sdk = raw["x-tinkex-sdk"]
    security = _alternatives(raw["security"]) if "security" in raw else root_security
    return Operation(
        id=raw["operationId"], method=method.upper(), path=path, summary=raw.get("summary"),
        deprecated=bool(raw.get("deprecated", False)),
        params=_params(raw, body_schema, schemas, sequence,
                       raw_body=encoding is not None and encoding.type == "raw"),
        body_type=body_type, result_type=_ref_name(result_schema), pool=pool, retry=policy,
        timeout=default_timeout.merged(override), timeout_override=override,
        idempotent=bool(raw.get("x-tinkex-idempotent", method != "get")),
        auth=bool(security) and () not in security, security=security, success_status=status,
        future=future, sequence=sequence, pagination=pagination,
        dispatch=raw.get("x-tinkex-dispatch"), circuit_breaker=breaker,
        rate_limited=rate_limit and bool(raw.get("x-tinkex-rate-limited", True)), stream=stream,
        body_encoding=encoding,
        sdk_group=sdk["group"], sdk_method=sdk["method"], sdk_client=sdk.get("client"),
        request_media=tuple(content), result_schema=result_schema,
        poll_interval=(float(raw["x-tinkex-poll-interval"])
                       if "x-tinkex-poll-interval" in raw else None),
        chunking=ChunkingSpec.from_spec(raw.get("x-tinkex-chunking")),
        protobuf=ProtobufSpec(**raw["x-tinkex-protobuf"]) if "x-tinkex-protobuf" in raw else None,
    )


def success_response(raw: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The status and response object that a successful call gets: the first 2xx declared.

    Exact codes come before the ``2XX`` range; an operation that declares none
    succeeds with 200 and no body.
    """
    responses = raw.get("responses") or {}
    codes = sorted((str(c) for c in responses if str(c).startswith("2")),
                   key=lambda c: (not c.isdigit(), c))
    if not codes:
        return "200", {}
    return codes[0], responses[codes[0]]


def object_fields(schema: Any, schemas: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], set[str]] | None:
    """The properties and required names of an object schema (through ``$ref`` and ``allOf``).

    None when the schema is not an object with named properties (a union, an
    array, a free-form map): such a body is passed whole.
    """
    seen: set[str] = set()

    def walk(s: Any) -> tuple[dict[str, Any], set[str]] | None:
        if not isinstance(s, Mapping):
            return None
        name = _ref_name(s)
        if name is not None:
            if name in seen or name not in schemas:
                return None
            seen.add(name)
            return walk(schemas[name])
        if any(k in s for k in ("oneOf", "anyOf")):
            return None
        props: dict[str, Any] = dict(s.get("properties") or {})
        required = set(s.get("required") or ())
        for part in s.get("allOf") or ():
            sub = walk(part)
            if sub is None:
                return None
            props = {**sub[0], **props}
            required |= sub[1]
        return (props, required) if props else None

    return walk(schema)


def allows_null(schema: Any, schemas: Mapping[str, Any], _seen: frozenset[str] = frozenset()
                ) -> bool:
    """Whether a JSON Schema admits null: ``type: null`` (alone or in a list), ``nullable``,
    a null const or enum member, or an ``anyOf`` / ``oneOf`` / ``$ref`` that does."""
    if not isinstance(schema, Mapping):
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema.get("nullable"):
        return True
    if ("const" in schema and schema["const"] is None) or None in (schema.get("enum") or ()):
        return True
    if any(allows_null(s, schemas, _seen) for key in ("anyOf", "oneOf")
           for s in schema.get(key) or ()):
        return True
    name = _ref_name(schema)
    if name is not None and name not in _seen:
        return allows_null(schemas.get(name), schemas, _seen | {name})
    return False


def _ref_name(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    return ref.removeprefix(SCHEMA_PREFIX) if isinstance(ref, str) else None


def _is_binary(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "string" and (
        schema.get("format") == "binary" or "contentMediaType" in schema)


def file_fields(body: Mapping[str, Any], schemas: Mapping[str, Any]) -> frozenset[str]:
    """Body properties that are files: binary strings, or arrays of them."""
    out = set()
    for name, prop in (body.get("properties") or {}).items():
        if isinstance(prop, dict) and "$ref" in prop:
            prop = schemas.get(_ref_name(prop) or "", {})
        if _is_binary(prop) or (isinstance(prop, dict) and prop.get("type") == "array"
                                and _is_binary(prop.get("items"))):
            out.add(name)
    return frozenset(out)


def _alternatives(security: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(req) for req in security or ())


def _params(raw: Mapping[str, Any], body_schema: Any, schemas: Mapping[str, Any],
            sequence: SequenceSpec | None, raw_body: bool = False) -> tuple[Param, ...]:
    found: list[tuple[str, str, bool, Any, str, bool, Mapping[str, Any]]] = []
    for p in raw.get("parameters") or []:
        schema = p.get("schema") or {}
        required = bool(p.get("required")) and "default" not in schema
        style = p.get("style") or DEFAULT_STYLE.get(p["in"], "simple")
        explode = bool(p.get("explode", default_explode(style)))
        found.append((p["in"], p["name"], required, schema.get("default"), style, explode, schema))
    if raw_body:  # the whole body, after the parameters (the stub's rule too)
        found.append(("body", RAW_CONTENT, True, None, "", False, {}))
    fields = object_fields(body_schema, schemas) if body_schema is not None else None
    if fields is not None:
        props, required_fields = fields
        seq_field = sequence.field if sequence else None
        for name, prop in props.items():
            prop = prop if isinstance(prop, Mapping) else {}
            required = name in required_fields and "default" not in prop and name != seq_field
            found.append(("body", name, required, prop.get("default"), "", False, prop))
    elif body_schema is not None:
        body_required = bool((raw.get("requestBody") or {}).get("required", False))
        found.append(("payload", WHOLE_BODY, body_required, None, "", False, body_schema))
    names = keyword_names((loc, wire) for loc, wire, *_ in found)
    params = [Param(name, wire, loc, req, default, style, explode, schema)
              for name, (loc, wire, req, default, style, explode, schema)
              in zip(names, found, strict=True)]
    return tuple([p for p in params if p.required] + [p for p in params if not p.required])


def load_table(source: Source | OperationTable, *, extension_schemas: Source | None = None,
               check_schemas: bool = True) -> OperationTable:
    """An OperationTable from a table (returned as is), a mapping or a JSON file path."""
    if isinstance(source, OperationTable):
        return source
    return OperationTable.load(source, extension_schemas=extension_schemas,
                               check_schemas=check_schemas)

