"""JSON Schemas of the manifest sections and of the ``x-tinkex-*`` keys they compile to.

One definition serves both: the manifest checker validates each section with it,
and the compiled document's extension values are validated with the same schema
(openapi-spec-validator accepts anything under ``x-``, so we check them ourselves).
``make regen`` also writes them to ``tinkex/_spec/extensions.schema.json`` so the
runtime, which imports nothing from codegen, can refuse an invalid document.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_IDENT = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
_LOWER_IDENT = {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$"}
_CLASS_NAME = {"type": "string", "pattern": r"^[A-Z][A-Za-z0-9_]*$"}
_HEADER = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9-]*$"}
_ENV = {"type": "string", "pattern": r"^[A-Z_][A-Z0-9_]*$"}
_POS_NUM = {"type": "number", "exclusiveMinimum": 0}
_NONNEG_NUM = {"type": "number", "minimum": 0}
_POS_INT = {"type": "integer", "minimum": 1}
_NONNEG_INT = {"type": "integer", "minimum": 0}
_STATUS = {
    "oneOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": r"^[1-5]XX$"},
    ]
}
_STATUS_LIST = {"type": "array", "items": _STATUS, "uniqueItems": True}
MEDIA_PATTERN = r"^[a-z*]+/[A-Za-z0-9.+*-]+$"
_MEDIA = {"type": "string", "pattern": MEDIA_PATTERN}
_DOTTED = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": props,
        "required": required or [],
        "additionalProperties": False,
    }


BACKOFF = _obj(
    {
        "initial": _POS_NUM,
        "multiplier": {"type": "number", "minimum": 1},
        "max": _POS_NUM,
        "jitter": {"type": "number", "minimum": 0, "maximum": 1},
    },
    ["initial", "max"],
)

TIMEOUT = _obj({"connect": _POS_NUM, "read": _POS_NUM})

API = _obj(
    {
        "name": _LOWER_IDENT,
        "title": {"type": "string", "minLength": 1},
        "version": {"type": "string", "minLength": 1},
        "parity_version": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$"},
        "description": {"type": "string"},
        "base_url": {"type": "string", "pattern": r"^https?://"},
        "user_agent": {"type": "string"},
        "env": {"type": "object", "additionalProperties": _ENV, "propertyNames": _LOWER_IDENT},
    },
    ["name", "title", "version", "base_url"],
)

TOKEN_EXCHANGE = _obj(
    {
        "operation": _IDENT,
        "token_field": _IDENT,
        "key_operations": {"type": "array", "items": _IDENT, "uniqueItems": True},
        "refresh": _obj({"fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                         "margin": _NONNEG_NUM}),
        "invalid_token": _obj({"statuses": _STATUS_LIST, "header": _HEADER,
                               "contains": {"type": "string"}}, ["statuses"]),
    },
    ["operation", "token_field"],
)

AUTH = _obj(
    {
        "header": _HEADER,
        "env": _ENV,
        "prefix": {"type": "string"},
        "env_headers": {
            "type": "array",
            "items": _obj({"header": _HEADER, "env": _ENV, "secret": {"type": "boolean"}},
                          ["header", "env"]),
        },
        "secret_headers": {"type": "array", "items": _HEADER, "uniqueItems": True},
        "token_exchange": TOKEN_EXCHANGE,
    },
    [],
)

IDEMPOTENCY = _obj(
    {"header": _HEADER, "prefix": {"type": "string"}, "retry_count_header": _HEADER},
    ["header"],
)

DEFAULTS = _obj({"pool": _IDENT, "retry": _IDENT, "timeout": TIMEOUT, "circuit_breaker": _IDENT},
               ["pool", "retry", "timeout"])

POOL = _obj({"connections": _POS_INT, "description": {"type": "string"}}, ["connections"])
POOLS = {"type": "object", "additionalProperties": POOL, "propertyNames": _IDENT, "minProperties": 1}

RETRY_POLICY = _obj(
    {
        "max_attempts": {"oneOf": [_POS_INT, {"type": "null"}]},
        "budget_seconds": {"oneOf": [_POS_NUM, {"type": "null"}]},
        "statuses": _STATUS_LIST,
        "connection_errors": {"type": "boolean"},
        "backoff": BACKOFF,
        "retry_after": _obj({"max_seconds": _POS_NUM}, ["max_seconds"]),
        "should_retry_header": _HEADER,
        "description": {"type": "string"},
    },
    ["max_attempts"],
)
RETRY_POLICIES = {
    "type": "object",
    "additionalProperties": RETRY_POLICY,
    "propertyNames": _IDENT,
    "minProperties": 1,
}

FUTURES = _obj(
    {
        "retrieve": _IDENT,
        "request_id_field": _IDENT,
        "poll_timeout": _POS_NUM,
        "poller_threads": _POS_INT,
        "iteration_header": _HEADER,
        "type_header": _HEADER,
        "not_ready": _obj(
            {"statuses": _STATUS_LIST, "field": _IDENT, "value": {"type": "string"},
             "backoff": BACKOFF},
            ["statuses"],
        ),
        "queue_state": _obj(
            {
                "field": _IDENT,
                "reason_field": _IDENT,
                "values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            ["field"],
        ),
        "failure": _obj(
            {
                "field": _IDENT,
                "category_field": _IDENT,
                "categories": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "default_category": {"type": "string"},
            },
            ["field"],
        ),
        "metadata_only": _obj(
            {
                "request_field": _IDENT,
                "field": _IDENT,
                "value": {"type": "string"},
                "size_field": _IDENT,
                "budget_bytes": _POS_INT,
            },
            ["request_field", "field", "value", "size_field", "budget_bytes"],
        ),
        "expired_statuses": _STATUS_LIST,
        "backoff_statuses": {**_STATUS_LIST, "description": "Poll answers meaning the server "
                             "is struggling: wait out `backoff`, then poll again."},
        "bad_request": _obj({"statuses": _STATUS_LIST, "max_retries": _NONNEG_INT},
                            ["statuses", "max_retries"]),
        "backoff": BACKOFF,
    },
    ["retrieve", "request_id_field", "poll_timeout", "poller_threads", "not_ready", "failure",
     "backoff_statuses", "backoff"],
)

SESSION = _obj(
    {
        "create": _IDENT,
        "id_field": _IDENT,
        "heartbeat": _obj(
            {
                "operation": _IDENT,
                "interval": _POS_NUM,
                "timeout": _POS_NUM,
                "warn_after": _POS_NUM,
                "stop_statuses": _STATUS_LIST,
            },
            ["operation", "interval", "timeout"],
        ),
        "finish": _obj(
            {"operation": _IDENT,
             "statuses": {"type": "array", "items": _LOWER_IDENT, "minItems": 1}},
            ["operation", "statuses"],
        ),
    },
    ["create", "id_field"],
)

TELEMETRY = _obj(
    {
        "operation": _IDENT,
        "batch_size": _POS_INT,
        "flush_interval": _POS_NUM,
        "queue_size": _POS_INT,
        "timeout": _POS_NUM,
        "env": _ENV,
        "enabled_values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    ["operation", "batch_size", "flush_interval", "queue_size", "timeout"],
)

DISPATCH_LIMIT = _obj(
    {
        "max_in_flight": _POS_INT,
        "max_bytes": _POS_INT,
        "backoff_statuses": _STATUS_LIST,
        "penalty": _obj(
            {"max_in_flight": _POS_INT, "byte_multiplier": {"type": "number", "minimum": 1},
             "window_seconds": _POS_NUM},
            ["max_in_flight", "byte_multiplier", "window_seconds"],
        ),
        "backpressure": _obj(
            {"pause_seconds": _POS_NUM, "large_bytes": _POS_INT, "large_pause_seconds": _POS_NUM,
             "bytes_per_token": _POS_INT},
            ["pause_seconds"],
        ),
        "description": {"type": "string"},
    },
    ["max_in_flight"],
)
DISPATCH_LIMITS = {"type": "object", "additionalProperties": DISPATCH_LIMIT, "propertyNames": _IDENT}

TRACING = _obj(
    {
        "env": _ENV,
        "enabled_values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "propagate": {"type": "boolean"},
        "description": {"type": "string"},
    },
    ["env"],
)

RATE_LIMIT = _obj(
    {
        "statuses": {**_STATUS_LIST, "minItems": 1},
        "default_seconds": _POS_NUM,
        "max_seconds": _POS_NUM,
        "description": {"type": "string"},
    },
    ["statuses", "default_seconds", "max_seconds"],
)

CIRCUIT_BREAKER = _obj(
    {
        "failure_threshold": _POS_INT,
        "reset_seconds": _POS_NUM,
        "half_open_max_calls": _POS_INT,
        "failure_statuses": _STATUS_LIST,
        "scope": {"enum": ["pool", "operation"]},
        "enabled": {"type": "boolean"},
        "description": {"type": "string"},
    },
    ["failure_threshold", "reset_seconds"],
)
CIRCUIT_BREAKERS = {"type": "object", "additionalProperties": CIRCUIT_BREAKER,
                    "propertyNames": _IDENT, "minProperties": 1}

ERRORS = _obj(
    {
        "schema": _IDENT,
        "map": {
            "type": "array",
            "minItems": 1,
            "items": _obj({"status": _STATUS, "exception": _CLASS_NAME,
                           "retryable": {"type": "boolean"}},
                          ["status", "exception"]),
        },
    },
    ["map"],
)

SDK_GROUPS = _obj(
    {
        "client_class": _CLASS_NAME,
        "groups": {
            "type": "object",
            "propertyNames": _LOWER_IDENT,
            "minProperties": 1,
            "additionalProperties": _obj(
                {"class_name": _CLASS_NAME, "description": {"type": "string"},
                 "tag": {"type": "string"}}, ["class_name"]
            ),
        },
    },
    ["client_class", "groups"],
)

# ---- per-operation keys -------------------------------------------------------------------

OP_FUTURE = _obj(
    {
        "result": _IDENT,
        "request_type": {"type": "string", "minLength": 1},
        "result_media": {"type": "array", "items": _MEDIA, "minItems": 1, "uniqueItems": True},
    },
    ["result"],
)
OP_SEQUENCE = _obj(
    {"field": _IDENT, "scope": _IDENT, "start": _NONNEG_INT, "ordered": {"type": "boolean"},
     "clone_block": _POS_INT},
    ["field", "scope"],
)
OP_PAGINATION = _obj(
    {"offset": _IDENT, "limit": _IDENT, "items": _DOTTED, "total": _DOTTED},
    ["offset", "limit", "items"],
)
OP_CIRCUIT_BREAKER = {"oneOf": [_IDENT, {"type": "null"}]}
OP_STREAM = _obj(
    {"format": {"enum": ["sse", "ndjson"]}, "event": _IDENT,
     "error_event": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"}},
    ["format", "event"],
)
OP_CHUNKING = _obj(
    {"max_items": {**_POS_INT, "description": "Most items (datums) in one request."},
     "max_bytes": {**_POS_INT, "description": "Most estimated request bytes in one request "
                   "(a single bigger item still goes, alone)."},
     "bytes_per_token": {**_POS_INT, "description": "Estimated JSON bytes of one token."},
     "bytes_per_element": {**_POS_INT, "description": "Estimated JSON bytes of one tensor "
                           "element."}},
    ["max_items", "max_bytes"],
)
OP_PROTOBUF = _obj(
    {"request": {**_IDENT, "description": "The protobuf message of a protobuf request body "
                 "(a media.request type application/x-protobuf)."},
     "result": {**_IDENT, "description": "The protobuf message of the future's result, when a "
                "poll's Accept asks for protobuf."},
     "send_as": {**_IDENT, "description": "In protobuf, the request goes to this operation "
                 "(whose protobuf request is the same message) instead."}},
    [],
)
OP_BODY_ENCODING = _obj({"type": {"enum": ["multipart", "raw"]}, "media": _MEDIA}, ["type"])
MULTIPART = "multipart/form-data"
RAW_MEDIA = "application/octet-stream"
"""The default media type of a raw body."""
STREAM_MEDIA = {"sse": "text/event-stream", "ndjson": "application/x-ndjson"}
"""The 200 response's media type of a streaming operation, by format."""
OP_SDK = _obj({"group": _LOWER_IDENT, "method": _LOWER_IDENT,
               "client": {**_CLASS_NAME, "description": "A domain client class that exposes "
                          "this operation as a generated pass-through method of the same name."}},
              ["group", "method"])
OP_POLL_INTERVAL = {"type": "number", "exclusiveMinimum": 0, "description":
                    "Seconds between two calls of an operation whose answer is not final yet "
                    "(a client asks again until it is)."}
OP_MEDIA = _obj({"request": {"type": "array", "items": _MEDIA, "minItems": 1, "uniqueItems": True},
                 "response": {"type": "array", "items": _MEDIA, "minItems": 1,
                              "uniqueItems": True}})

ROOT_EXTENSIONS: dict[str, Schema] = {
    "x-tinkex-manifest-version": {"const": 1},
    "x-tinkex-api": _obj(
        {"name": _LOWER_IDENT, "parity_version": API["properties"]["parity_version"],
         "user_agent": {"type": "string"}, "env": API["properties"]["env"]},
        ["name"],
    ),
    "x-tinkex-auth": AUTH,
    "x-tinkex-idempotency": IDEMPOTENCY,
    "x-tinkex-defaults": DEFAULTS,
    "x-tinkex-pools": POOLS,
    "x-tinkex-retry-policies": RETRY_POLICIES,
    "x-tinkex-futures": FUTURES,
    "x-tinkex-session": SESSION,
    "x-tinkex-telemetry": TELEMETRY,
    "x-tinkex-dispatch-limits": DISPATCH_LIMITS,
    "x-tinkex-rate-limit": RATE_LIMIT,
    "x-tinkex-tracing": TRACING,
    "x-tinkex-circuit-breakers": CIRCUIT_BREAKERS,
    "x-tinkex-errors": ERRORS,
    "x-tinkex-sdk-groups": SDK_GROUPS,
}

OPERATION_EXTENSIONS: dict[str, Schema] = {
    "x-tinkex-pool": _IDENT,
    "x-tinkex-retry": _IDENT,
    "x-tinkex-timeout": TIMEOUT,
    "x-tinkex-idempotent": {"type": "boolean"},
    "x-tinkex-future": OP_FUTURE,
    "x-tinkex-sequence": OP_SEQUENCE,
    "x-tinkex-pagination": OP_PAGINATION,
    "x-tinkex-dispatch": _IDENT,
    "x-tinkex-circuit-breaker": OP_CIRCUIT_BREAKER,
    "x-tinkex-rate-limited": {"type": "boolean"},
    "x-tinkex-stream": OP_STREAM,
    "x-tinkex-body-encoding": OP_BODY_ENCODING,
    "x-tinkex-chunking": OP_CHUNKING,
    "x-tinkex-protobuf": OP_PROTOBUF,
    "x-tinkex-sdk": OP_SDK,
    "x-tinkex-media": OP_MEDIA,
    "x-tinkex-poll-interval": OP_POLL_INTERVAL,
}

REQUIRED_ROOT = ["x-tinkex-manifest-version", "x-tinkex-api", "x-tinkex-auth", "x-tinkex-defaults",
                 "x-tinkex-pools", "x-tinkex-retry-policies", "x-tinkex-errors",
                 "x-tinkex-sdk-groups"]
REQUIRED_OPERATION = ["x-tinkex-sdk"]
