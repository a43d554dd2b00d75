"""The immutable table of operations, built once from a validated document.

Everything per-call code needs is resolved here, ahead of time: parameter
locations and Python names, body fields, result type, pool, the retry policy
object, the merged timeout, idempotency, future/sequence/pagination semantics
and the SDK name. Parameter names and order follow the rules codegen uses for
the ``.pyi`` stub (``codegen/stubs.py``: mirrored, because the runtime imports
nothing from codegen); a test proves the two agree.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

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
from .errors import ErrorMap
from .retry import RetryPolicy
from .transport import PoolSpec, Timeout, TimeoutOverride

JSON = "application/json"


RESERVED_NAMES = frozenset({"self", "timeout", "max_retries", "idempotency_key", "extra_headers",
                            "extra_query", "extra_body", "encode_body"})
"""Names the low-level methods (and ``Engine.call``) use for their own options."""


def python_name(name: str) -> str:
    """Parameter name for a wire name (``X-Foo-Bar`` -> ``x_foo_bar``); same rule as codegen.

    A keyword, or a name taken by a per-call option (a body field called
    ``timeout``), gets a trailing underscore.
    """
    out = re.sub(r"[^0-9A-Za-z_]", "_", name).lower()
    if out[:1].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) or out in RESERVED_NAMES else out


@dataclass(frozen=True)
class Param:
    """One keyword of an operation's method: where it goes on the wire and under which name."""

    name: str
    wire_name: str
    location: str
    required: bool
    default: Any


@dataclass(frozen=True)
class FutureResultSpec:
    """The operation answers with a handle; the result (of ``result_type``) is polled for."""

    result_type: str
    request_type: str | None
    result_media: tuple[str, ...]


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
    sdk_group: str
    sdk_method: str
    request_media: tuple[str, ...]

    def params_in(self, location: str) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == location)


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
    errors: ErrorMap
    client_class: str
    groups: tuple[SdkGroup, ...]
    type_names: frozenset[str]
    _by_sdk: Mapping[tuple[str, str], Operation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_sdk = {(op.sdk_group, op.sdk_method): op for op in self.operations.values()}
        object.__setattr__(self, "_by_sdk", MappingProxyType(by_sdk))

    @classmethod
    def load(cls, source: Source, *, extension_schemas: Source | None = None) -> OperationTable:
        """Load, validate and index a document (a mapping or a JSON file)."""
        return build_table(load_document(source, extension_schemas=extension_schemas))

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
    root_auth = bool(doc.get("security"))
    operations = {}
    for path, method, raw in iter_operations(doc):
        policy = policies[raw.get("x-tinkex-retry", defaults["retry"])]
        op = _operation(doc, path, method, raw, policy, raw.get("x-tinkex-pool", defaults["pool"]),
                        default_timeout, root_auth)
        operations[op.id] = op
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
        errors=ErrorMap.from_spec(doc["x-tinkex-errors"]["map"]),
        client_class=sdk["client_class"],
        groups=tuple(SdkGroup(name, g["class_name"], g.get("description"))
                     for name, g in sdk["groups"].items()),
        type_names=models,
    )


def _operation(doc: Mapping[str, Any], path: str, method: str, raw: Mapping[str, Any],
               policy: RetryPolicy, pool: str, default_timeout: Timeout,
               root_auth: bool) -> Operation:
    content = (raw.get("requestBody") or {}).get("content") or {}
    body_type = _ref_name((content.get(JSON) or {}).get("schema"))
    ok = ((raw.get("responses") or {}).get("200") or {}).get("content") or {}
    result_schema = (ok.get(JSON) or {}).get("schema")
    seq = raw.get("x-tinkex-sequence")
    sequence = (SequenceSpec(seq["field"], seq["scope"], seq.get("start", 0),
                             seq.get("ordered", True), seq.get("clone_block")) if seq else None)
    fut = raw.get("x-tinkex-future")
    future = (FutureResultSpec(fut["result"], fut.get("request_type"),
                               tuple(fut.get("result_media") or (JSON,))) if fut else None)
    pag = raw.get("x-tinkex-pagination")
    pagination = (PaginationSpec(pag["offset"], pag["limit"], pag["items"], pag.get("total"))
                  if pag else None)
    over = raw.get("x-tinkex-timeout")
    override = TimeoutOverride(*(None if over.get(k) is None else float(over[k])
                                 for k in ("connect", "read"))) if over else None
    schemas = (doc.get("components") or {}).get("schemas") or {}
    sdk = raw["x-tinkex-sdk"]
    return Operation(
        id=raw["operationId"], method=method.upper(), path=path, summary=raw.get("summary"),
        deprecated=bool(raw.get("deprecated", False)),
        params=_params(raw, schemas.get(body_type or "", {}), sequence),
        body_type=body_type, result_type=_ref_name(result_schema), pool=pool, retry=policy,
        timeout=default_timeout.merged(override), timeout_override=override,
        idempotent=bool(raw.get("x-tinkex-idempotent", method != "get")),
        auth=bool(raw["security"]) if "security" in raw else root_auth,
        future=future, sequence=sequence, pagination=pagination,
        dispatch=raw.get("x-tinkex-dispatch"), sdk_group=sdk["group"], sdk_method=sdk["method"],
        request_media=tuple(content),
    )


def _ref_name(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    return ref.removeprefix(SCHEMA_PREFIX) if isinstance(ref, str) else None


def _params(raw: Mapping[str, Any], body_schema: Mapping[str, Any],
            sequence: SequenceSpec | None) -> tuple[Param, ...]:
    params = []
    for p in raw.get("parameters") or []:
        schema = p.get("schema") or {}
        required = bool(p.get("required")) and "default" not in schema
        params.append(Param(python_name(p["name"]), p["name"], p["in"], required,
                            schema.get("default")))
    required_fields = set(body_schema.get("required") or ())
    seq_field = sequence.field if sequence else None
    for name, prop in (body_schema.get("properties") or {}).items():
        required = name in required_fields and "default" not in prop and name != seq_field
        params.append(Param(python_name(name), name, "body", required,
                            prop.get("default") if isinstance(prop, dict) else None))
    return tuple([p for p in params if p.required] + [p for p in params if not p.required])


def load_table(source: Source | OperationTable, *,
               extension_schemas: Source | None = None) -> OperationTable:
    """An OperationTable from a table (returned as is), a mapping or a JSON file path."""
    if isinstance(source, OperationTable):
        return source
    return OperationTable.load(source, extension_schemas=extension_schemas)

