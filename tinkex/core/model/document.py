"""Load a compiled API document, refuse it if it is invalid, and read its root sections.

The document is OpenAPI 3.1 plus ``x-tinkex-*`` keys. openapi tooling accepts
anything under ``x-``, so the runtime checks those values itself, with the
JSON Schemas that codegen ships next to the document (``extensions.schema.json``)
and with cross-reference checks (a named pool, policy, operation or type must
exist). Every problem is reported at once, each as ``location: what is wrong``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import DocumentError, ErrorCategory, error_categories, status_error_problem
from ..retry import Backoff, StatusSet

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SCHEMA_PREFIX = "#/components/schemas/"
SCHEMAS_FILE = "extensions.schema.json"
PACKAGED_SCHEMAS = Path(__file__).resolve().parents[2] / "_spec" / SCHEMAS_FILE
"""Where ``make regen`` puts the extension schemas inside the package."""

Document = dict[str, Any]
Source = Mapping[str, Any] | str | Path


def load_document(source: Source, *, extension_schemas: Source | None = None,
                  check_schemas: bool = True) -> Document:
    """The document from a mapping or a JSON file, validated; raise DocumentError otherwise.

    The extension schemas come from ``extension_schemas``, else from
    ``extensions.schema.json`` beside a document file, else from the package.
    ``check_schemas=False`` skips the JSON Schema checks (cross references are
    still checked), for a document that codegen validated when it wrote it.
    """
    if isinstance(source, Mapping):
        doc, name, sibling = dict(source), "the API document", None
    else:
        path = Path(source)
        doc, name, sibling = _read_json(path, path.name), str(path), path.parent / SCHEMAS_FILE
    problems = _schema_problems(doc, extension_schemas, sibling) if check_schemas else []
    if not problems:  # cross references only make sense in a well-formed document
        problems = check_references(doc)
    if problems:
        raise DocumentError(problems, name)
    return doc


def _schema_problems(doc: Document, extension_schemas: Source | None,
                     sibling: Path | None) -> list[str]:
    if extension_schemas is None:
        extension_schemas = sibling if sibling is not None and sibling.exists() else PACKAGED_SCHEMAS
    bundle = (dict(extension_schemas) if isinstance(extension_schemas, Mapping)
              else _read_json(Path(extension_schemas), "extension schemas"))
    return validate_extensions(doc, bundle)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError([f"<file>: cannot read {path}: {exc}"], what) from exc
    if not isinstance(data, dict):
        raise DocumentError(["<root>: not a JSON object"], what)
    return data


def iter_operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(path, method, operation)`` for every operation, in document order."""
    for path, item in (doc.get("paths") or {}).items():
        for method, op in (item or {}).items():
            if method in HTTP_METHODS and isinstance(op, dict):
                yield path, method, op


def _check(where: str, schema: Mapping[str, Any], value: Any) -> list[str]:
    import jsonschema  # costs more to import than requests; only unchecked documents need it

    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(value):
        sub = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"{where}{sub}: {error.message}")
    return problems


def validate_extensions(doc: Mapping[str, Any], bundle: Mapping[str, Any]) -> list[str]:
    """Every ``x-tinkex-*`` value that its JSON Schema refuses, every unknown or missing key."""
    root, per_op = bundle["root"], bundle["operation"]
    problems = [f"<root>: missing required extension {key}"
                for key in bundle["required_root"] if key not in doc]
    if not (doc.get("servers") or [{}])[0].get("url"):
        problems.append("servers[0].url: the document declares no server URL")
    for key, value in doc.items():
        if key.startswith("x-tinkex-"):
            problems += (_check(f"<root>.{key}", root[key], value) if key in root
                         else [f"<root>.{key}: unknown extension key"])
    for path, method, op in iter_operations(doc):
        where = f"paths.{path}.{method}"
        problems += [f"{where}: missing required extension {key}"
                     for key in bundle["required_operation"] if key not in op]
        for key, value in op.items():
            if key.startswith("x-tinkex-"):
                problems += (_check(f"{where}.{key}", per_op[key], value) if key in per_op
                             else [f"{where}.{key}: unknown extension key"])
    return problems


def check_references(doc: Mapping[str, Any]) -> list[str]:
    """Every name in an extension value that does not resolve."""
    refs = _References(doc)
    refs.root()
    for path, method, op in iter_operations(doc):
        refs.operation(f"paths.{path}.{method}", op)
    return refs.problems


class _References:
    """The names a document defines, and the problems found so far."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.pools = doc["x-tinkex-pools"]
        self.policies = doc["x-tinkex-retry-policies"]
        self.limits = doc.get("x-tinkex-dispatch-limits") or {}
        self.breakers = doc.get("x-tinkex-circuit-breakers") or {}
        self.groups = doc["x-tinkex-sdk-groups"]["groups"]
        self.types = (doc.get("components") or {}).get("schemas") or {}
        self.op_ids = {op.get("operationId") for _, _, op in iter_operations(doc)}
        self.futures = doc.get("x-tinkex-futures") or {}
        self.problems: list[str] = []
        self._methods: dict[tuple[str, str], str] = {}
        self._ids: set[str] = set()

    def need(self, kind: str, known: Any, name: Any, where: str) -> None:
        if name is not None and name not in known:
            listed = ", ".join(sorted(map(str, known))) or "none defined"
            self.problems.append(f"{where}: unknown {kind} {name!r} (known: {listed})")

    def root(self) -> None:
        doc, need = self.doc, self.need
        defaults = doc["x-tinkex-defaults"]
        need("pool", self.pools, defaults["pool"], "<root>.x-tinkex-defaults.pool")
        need("retry policy", self.policies, defaults["retry"], "<root>.x-tinkex-defaults.retry")
        need("circuit breaker", self.breakers, defaults.get("circuit_breaker"),
             "<root>.x-tinkex-defaults.circuit_breaker")
        for name, policy in self.policies.items():
            if policy.get("max_attempts", 1) is None and not policy.get("budget_seconds"):
                self.problems.append(f"<root>.x-tinkex-retry-policies.{name}: an unbounded "
                                     "policy (max_attempts: null) needs budget_seconds")
        errors = doc["x-tinkex-errors"]
        need("type", self.types, errors.get("schema"), "<root>.x-tinkex-errors.schema")
        for i, rule in enumerate(errors["map"]):
            problem = status_error_problem(rule["exception"])
            if problem is not None:
                self.problems.append(f"<root>.x-tinkex-errors.map[{i}].exception: {problem}")
        self._root_operations()

    def _root_operations(self) -> None:
        doc, need, ops = self.doc, self.need, self.op_ids
        exchange = doc["x-tinkex-auth"].get("token_exchange") or {}
        need("operation", ops, exchange.get("operation"),
             "<root>.x-tinkex-auth.token_exchange.operation")
        for i, key_op in enumerate(exchange.get("key_operations") or []):
            need("operation", ops, key_op,
                 f"<root>.x-tinkex-auth.token_exchange.key_operations[{i}]")
        need("operation", ops, self.futures.get("retrieve"), "<root>.x-tinkex-futures.retrieve")
        session = doc.get("x-tinkex-session") or {}
        need("operation", ops, session.get("create"), "<root>.x-tinkex-session.create")
        for part in ("heartbeat", "finish"):
            need("operation", ops, (session.get(part) or {}).get("operation"),
                 f"<root>.x-tinkex-session.{part}.operation")
        need("operation", ops, (doc.get("x-tinkex-telemetry") or {}).get("operation"),
             "<root>.x-tinkex-telemetry.operation")

    def operation(self, where: str, op: Mapping[str, Any]) -> None:
        need = self.need
        op_id = op.get("operationId")
        if not op_id:
            self.problems.append(f"{where}.operationId: missing")
        elif op_id in self._ids:
            self.problems.append(f"{where}.operationId: duplicate operation id {op_id!r}")
        self._ids.add(op_id or "")
        need("pool", self.pools, op.get("x-tinkex-pool"), f"{where}.x-tinkex-pool")
        need("retry policy", self.policies, op.get("x-tinkex-retry"), f"{where}.x-tinkex-retry")
        need("dispatch limit", self.limits, op.get("x-tinkex-dispatch"),
             f"{where}.x-tinkex-dispatch")
        need("circuit breaker", self.breakers, op.get("x-tinkex-circuit-breaker"),
             f"{where}.x-tinkex-circuit-breaker")
        if "x-tinkex-rate-limited" in op and "x-tinkex-rate-limit" not in self.doc:
            self.problems.append(f"{where}.x-tinkex-rate-limited: needs the x-tinkex-rate-limit "
                                 "section")
        self._results(where, op)
        self._protobuf(where, op)
        self._sdk(where, op, str(op_id))

    def _protobuf(self, where: str, op: Mapping[str, Any]) -> None:
        """A ``send_as`` operation exists and takes the same protobuf request message."""
        spec = op.get("x-tinkex-protobuf") or {}
        target = spec.get("send_as")
        if target is None:
            return
        where = f"{where}.x-tinkex-protobuf.send_as"
        self.need("operation", self.op_ids, target, where)
        sent = next((o.get("x-tinkex-protobuf") or {} for _, _, o in iter_operations(self.doc)
                     if o.get("operationId") == target), {})
        if target in self.op_ids and sent.get("request") != spec.get("request"):
            self.problems.append(f"{where}: {target} takes protobuf request "
                                 f"{sent.get('request')!r}, not {spec.get('request')!r}")

    def _results(self, where: str, op: Mapping[str, Any]) -> None:
        future, stream = op.get("x-tinkex-future"), op.get("x-tinkex-stream")
        if future is not None:
            self.need("type", self.types, future["result"], f"{where}.x-tinkex-future.result")
            if not self.futures:
                self.problems.append(f"{where}.x-tinkex-future: needs the x-tinkex-futures "
                                     "section")
        if stream is not None:
            self.need("type", self.types, stream["event"], f"{where}.x-tinkex-stream.event")
        for ref_where, ref in _type_refs(op):
            self.need("type", self.types, ref, f"{where}.{ref_where}")

    def _sdk(self, where: str, op: Mapping[str, Any], op_id: str) -> None:
        sdk = op["x-tinkex-sdk"]
        self.need("SDK group", self.groups, sdk["group"], f"{where}.x-tinkex-sdk.group")
        if "client" in sdk and ("x-tinkex-future" in op or "x-tinkex-stream" in op):
            self.problems.append(f"{where}.x-tinkex-sdk.client: a pass-through method cannot "
                                 "front a future or streaming operation")
        key = (sdk["group"], sdk["method"])
        if key in self._methods:
            self.problems.append(f"{where}.x-tinkex-sdk: {key[0]}.{key[1]} is already "
                                 f"{self._methods[key]}")
        self._methods.setdefault(key, op_id)


def _type_refs(op: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    content = (op.get("requestBody") or {}).get("content") or {}
    for media in ("application/json", "multipart/form-data"):
        ref = ((content.get(media) or {}).get("schema") or {}).get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX):
            yield "requestBody", ref.removeprefix(SCHEMA_PREFIX)
    ok = ((op.get("responses") or {}).get("200") or {}).get("content") or {}
    ref = ((ok.get("application/json") or {}).get("schema") or {}).get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX):
        yield "responses.200", ref.removeprefix(SCHEMA_PREFIX)


# ---- root sections, as immutable values ------------------------------------------------------


@dataclass(frozen=True)
class ApiSpec:
    """Identity of the API and where it lives; ``env`` maps setting names to variable names."""

    name: str
    title: str
    version: str
    base_url: str
    user_agent: str | None
    parity_version: str | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class EnvHeader:
    """A header whose value comes from an environment variable."""

    header: str
    env: str
    secret: bool


@dataclass(frozen=True)
class TokenExchangeSpec:
    """Trading the long-lived key for short-lived tokens (JWTs) sent in the same header.

    ``operation`` mints one (its result's ``token_field``); it and the
    ``key_operations`` keep the key. A token is refreshed once ``fraction`` of
    its lifetime (``exp - iat``) has passed or ``margin`` seconds are left, and a
    request refused with one of ``invalid_statuses`` whose ``invalid_header``
    contains ``invalid_contains`` is replayed once with a new token.
    """

    operation: str
    token_field: str
    key_operations: frozenset[str]
    refresh_fraction: float
    refresh_margin: float
    invalid_statuses: StatusSet
    invalid_header: str | None
    invalid_contains: str | None


@dataclass(frozen=True)
class AuthSpec:
    """How the API key travels (``header``), where it comes from and what it must start with."""

    header: str
    """The API key's header when the document has one apiKey scheme (else Authorization)."""
    env: str | None
    prefix: str | None
    env_headers: tuple[EnvHeader, ...]
    secret_headers: tuple[str, ...] = ()
    """Other request headers whose values are credentials (redacted everywhere)."""
    token_exchange: TokenExchangeSpec | None = None


@dataclass(frozen=True)
class IdempotencySpec:
    header: str
    prefix: str
    retry_count_header: str | None


@dataclass(frozen=True)
class NotReadySpec:
    """A poll answer meaning "not done yet": one of ``statuses``, or ``field == value`` in the body."""

    statuses: StatusSet
    field: str | None
    value: str | None
    backoff: Backoff | None = None
    """The least time between poll starts after n not-ready answers in a row: a poll the
    server answered at once waits out the rest, a held (long) poll does not wait."""


@dataclass(frozen=True)
class QueueStateSpec:
    field: str
    reason_field: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class FailureSpec:
    """Where a failed future puts its error and whose fault it was."""

    field: str
    category_field: str | None
    categories: tuple[str, ...]
    default_category: str | None
    category_type: type[ErrorCategory] | None = None
    """The categories as an enum (:func:`~tinkex.core.errors.error_categories`); None: none."""


@dataclass(frozen=True)
class MetadataOnlySpec:
    request_field: str
    field: str
    value: str
    size_field: str
    budget_bytes: int


@dataclass(frozen=True)
class BadRequestSpec:
    statuses: StatusSet
    max_retries: int


@dataclass(frozen=True)
class FutureSpec:
    """How future operations are resolved: the retrieve operation and how to read its answers."""

    retrieve: str
    request_id_field: str
    poll_timeout: float
    poller_threads: int
    iteration_header: str | None
    type_header: str | None
    not_ready: NotReadySpec
    queue_state: QueueStateSpec | None
    failure: FailureSpec
    metadata_only: MetadataOnlySpec | None
    expired_statuses: StatusSet
    bad_request: BadRequestSpec | None
    backoff: Backoff
    """The wait before polling again after a connection failure or one of ``backoff_statuses``."""
    backoff_statuses: StatusSet = StatusSet()


@dataclass(frozen=True)
class HeartbeatSpec:
    operation: str
    interval: float
    timeout: float
    warn_after: float | None
    stop_statuses: StatusSet


@dataclass(frozen=True)
class FinishSpec:
    operation: str
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class SessionSpec:
    create: str
    id_field: str | None
    heartbeat: HeartbeatSpec | None
    finish: FinishSpec | None


@dataclass(frozen=True)
class TelemetrySpec:
    operation: str
    batch_size: int
    flush_interval: float
    queue_size: int
    timeout: float
    env: str | None
    enabled_values: tuple[str, ...]


@dataclass(frozen=True)
class DispatchPenalty:
    """After a backoff status: fewer requests in flight, and each counted as bigger, for a while."""

    max_in_flight: int
    byte_multiplier: float
    window_seconds: float


@dataclass(frozen=True)
class Backpressure:
    """A submit refused with a backoff status is sent again as it was after ``pause_seconds``;
    ``large_pause_seconds`` for a request of more than ``large_bytes`` (tokens weigh
    ``bytes_per_token`` each)."""

    pause_seconds: float
    large_bytes: int | None = None
    large_pause_seconds: float | None = None
    bytes_per_token: int = 1

    def pause(self, tokens: int) -> float:
        """Seconds to wait before sending a request of ``tokens`` tokens again."""
        large = (self.large_bytes is not None and self.large_pause_seconds is not None
                 and tokens * self.bytes_per_token > self.large_bytes)
        return self.large_pause_seconds if large and self.large_pause_seconds else self.pause_seconds


@dataclass(frozen=True)
class DispatchLimitSpec:
    name: str
    max_in_flight: int
    max_bytes: int | None
    backoff_statuses: StatusSet
    penalty: DispatchPenalty | None
    backpressure: Backpressure | None = None


def parse_api(doc: Mapping[str, Any]) -> ApiSpec:
    ext, info = doc["x-tinkex-api"], doc.get("info") or {}
    return ApiSpec(ext["name"], info.get("title", ext["name"]), info.get("version", ""),
                   doc["servers"][0]["url"], ext.get("user_agent"), ext.get("parity_version"),
                   MappingProxyType(dict(ext.get("env") or {})))


def parse_auth(spec: Mapping[str, Any]) -> AuthSpec:
    headers = tuple(EnvHeader(h["header"], h["env"], bool(h.get("secret", False)))
                    for h in spec.get("env_headers") or ())
    ex = spec.get("token_exchange")
    exchange = None
    if ex:
        refresh, invalid = ex.get("refresh") or {}, ex.get("invalid_token") or {}
        exchange = TokenExchangeSpec(
            ex["operation"], ex["token_field"], frozenset(ex.get("key_operations") or ()),
            float(refresh.get("fraction", 0.5)), float(refresh.get("margin", 60)),
            StatusSet.of(invalid.get("statuses") or [401]), invalid.get("header"),
            invalid.get("contains"))
    return AuthSpec(spec.get("header") or "Authorization", spec.get("env"), spec.get("prefix") or None, headers,
                    tuple(spec.get("secret_headers") or ()), exchange)


def parse_idempotency(spec: Mapping[str, Any] | None) -> IdempotencySpec | None:
    if not spec:
        return None
    return IdempotencySpec(spec["header"], spec.get("prefix", ""), spec.get("retry_count_header"))


def parse_futures(spec: Mapping[str, Any] | None) -> FutureSpec | None:
    if not spec:
        return None
    nr, qs, fail = spec["not_ready"], spec.get("queue_state"), spec["failure"]
    meta, bad = spec.get("metadata_only"), spec.get("bad_request")
    return FutureSpec(
        retrieve=spec["retrieve"], request_id_field=spec["request_id_field"],
        poll_timeout=float(spec["poll_timeout"]), poller_threads=spec["poller_threads"],
        iteration_header=spec.get("iteration_header"), type_header=spec.get("type_header"),
        not_ready=NotReadySpec(StatusSet.of(nr["statuses"]), nr.get("field"), nr.get("value"),
                               Backoff.from_spec(nr["backoff"]) if nr.get("backoff") else None),
        queue_state=(QueueStateSpec(qs["field"], qs.get("reason_field"), tuple(qs.get("values") or ()))
                     if qs else None),
        failure=_failure(fail),
        metadata_only=(MetadataOnlySpec(meta["request_field"], meta["field"], meta["value"],
                                        meta["size_field"], meta["budget_bytes"]) if meta else None),
        expired_statuses=StatusSet.of(spec.get("expired_statuses")),
        bad_request=BadRequestSpec(StatusSet.of(bad["statuses"]), bad["max_retries"]) if bad else None,
        backoff=Backoff.from_spec(spec["backoff"]),
        backoff_statuses=StatusSet.of(spec["backoff_statuses"]),
    )


def _failure(spec: Mapping[str, Any]) -> FailureSpec:
    categories = tuple(spec.get("categories") or ())
    default = spec.get("default_category")
    return FailureSpec(spec["field"], spec.get("category_field"), categories, default,
                       error_categories(categories, default) if categories else None)


def parse_session(spec: Mapping[str, Any] | None) -> SessionSpec | None:
    if not spec:
        return None
    hb, fin = spec.get("heartbeat"), spec.get("finish")
    heartbeat = HeartbeatSpec(hb["operation"], float(hb["interval"]), float(hb["timeout"]),
                              hb.get("warn_after"), StatusSet.of(hb.get("stop_statuses"))) if hb else None
    finish = FinishSpec(fin["operation"], tuple(fin["statuses"])) if fin else None
    return SessionSpec(spec["create"], spec.get("id_field"), heartbeat, finish)


def parse_telemetry(spec: Mapping[str, Any] | None) -> TelemetrySpec | None:
    if not spec:
        return None
    return TelemetrySpec(spec["operation"], spec["batch_size"], float(spec["flush_interval"]),
                         spec["queue_size"], float(spec["timeout"]), spec.get("env"),
                         tuple(spec.get("enabled_values") or ("1", "true", "yes", "on")))


def parse_dispatch_limit(name: str, spec: Mapping[str, Any]) -> DispatchLimitSpec:
    pen = spec.get("penalty")
    penalty = DispatchPenalty(pen["max_in_flight"], float(pen["byte_multiplier"]),
                              float(pen["window_seconds"])) if pen else None
    bp = spec.get("backpressure")
    backpressure = Backpressure(float(bp["pause_seconds"]), bp.get("large_bytes"),
                                bp.get("large_pause_seconds"),
                                int(bp.get("bytes_per_token", 1))) if bp else None
    return DispatchLimitSpec(name, spec["max_in_flight"], spec.get("max_bytes"),
                             StatusSet.of(spec.get("backoff_statuses")), penalty, backpressure)
