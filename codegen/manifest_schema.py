"""JSON Schema of the manifest file itself (structure only; references are checked in check.py)."""

from __future__ import annotations

from typing import Any

from . import extension_schemas as x

# JSON Schema keywords a manifest type may use. Anything else is a typo or an
# unsupported feature and is refused, so nothing is silently dropped.
TYPE_KEYWORDS = {
    "type", "properties", "required", "items", "enum", "const", "default", "description",
    "title", "oneOf", "anyOf", "allOf", "discriminator", "additionalProperties", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems",
    "maxItems", "uniqueItems", "pattern", "format", "examples", "contentEncoding",
    "contentMediaType", "deprecated", "readOnly", "writeOnly", "$ref", "prefixItems",
    "propertyNames", "minProperties", "maxProperties", "multipleOf",
}
JSON_TYPES = ["object", "array", "string", "integer", "number", "boolean", "null"]

_TYPE_NAME = {"type": "string", "pattern": r"^[A-Z][A-Za-z0-9_]*$"}

# A recursive schema for the type language.
TYPE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "schema": {
            "type": "object",
            "propertyNames": {"enum": sorted(TYPE_KEYWORDS)},
            "properties": {
                "$ref": _TYPE_NAME,
                "type": {
                    "oneOf": [
                        {"enum": JSON_TYPES},
                        {"type": "array", "items": {"enum": JSON_TYPES}, "minItems": 1,
                         "uniqueItems": True},
                    ]
                },
                "properties": {"type": "object",
                               "additionalProperties": {"$ref": "#/$defs/schema"}},
                "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "items": {"$ref": "#/$defs/schema"},
                "prefixItems": {"type": "array", "items": {"$ref": "#/$defs/schema"}},
                "enum": {"type": "array", "minItems": 1},
                "oneOf": {"type": "array", "items": {"$ref": "#/$defs/schema"}, "minItems": 1},
                "anyOf": {"type": "array", "items": {"$ref": "#/$defs/schema"}, "minItems": 1},
                "allOf": {"type": "array", "items": {"$ref": "#/$defs/schema"}, "minItems": 1},
                "additionalProperties": {"oneOf": [{"type": "boolean"},
                                                   {"$ref": "#/$defs/schema"}]},
                "propertyNames": {"$ref": "#/$defs/schema"},
                "discriminator": {
                    "type": "object",
                    "properties": {
                        "propertyName": {"type": "string"},
                        "mapping": {"type": "object", "additionalProperties": _TYPE_NAME},
                    },
                    "required": ["propertyName"],
                    "additionalProperties": False,
                },
                "description": {"type": "string"},
                "title": {"type": "string"},
                "pattern": {"type": "string"},
                "format": {"type": "string"},
                "minimum": {"type": "number"},
                "maximum": {"type": "number"},
                "exclusiveMinimum": {"type": "number"},
                "exclusiveMaximum": {"type": "number"},
                "multipleOf": {"type": "number", "exclusiveMinimum": 0},
                "minLength": {"type": "integer", "minimum": 0},
                "maxLength": {"type": "integer", "minimum": 0},
                "minItems": {"type": "integer", "minimum": 0},
                "maxItems": {"type": "integer", "minimum": 0},
                "minProperties": {"type": "integer", "minimum": 0},
                "maxProperties": {"type": "integer", "minimum": 0},
                "uniqueItems": {"type": "boolean"},
                "deprecated": {"type": "boolean"},
                "readOnly": {"type": "boolean"},
                "writeOnly": {"type": "boolean"},
                "examples": {"type": "array"},
                "contentEncoding": {"type": "string"},
                "contentMediaType": {"type": "string"},
            },
        }
    }
}

PARAM = x._obj(
    {
        "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]*$"},
        "in": {"enum": ["path", "query", "header"]},
        "description": {"type": "string"},
        "required": {"type": "boolean"},
        "deprecated": {"type": "boolean"},
        "schema": {"$ref": "#/$defs/schema"},
    },
    ["name", "in", "schema"],
)

OPERATION = x._obj(
    {
        "id": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$"},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "path": {"type": "string", "pattern": r"^/[A-Za-z0-9_./{}-]*$"},
        "summary": {"type": "string"},
        "description": {"type": "string"},
        "params": {"type": "array", "items": PARAM},
        "body": _TYPE_NAME,
        "result": {"oneOf": [_TYPE_NAME, {"type": "null"}]},
        "pool": x._IDENT,
        "retry": x._IDENT,
        "timeout": x.TIMEOUT,
        "idempotent": {"type": "boolean"},
        "auth": {"type": "boolean"},
        "future": x.OP_FUTURE,
        "sequence": x.OP_SEQUENCE,
        "media": x.OP_MEDIA,
        "pagination": x.OP_PAGINATION,
        "dispatch": x._IDENT,
        "circuit_breaker": x.OP_CIRCUIT_BREAKER,
        "rate_limited": {"type": "boolean"},
        "stream": x.OP_STREAM,
        "body_encoding": x.OP_BODY_ENCODING,
        "sdk": x.OP_SDK,
        "deprecated": {"type": "boolean"},
    },
    ["id", "method", "path", "sdk"],
)

MANIFEST: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": TYPE_SCHEMA["$defs"],
    **x._obj(
        {
            "manifest_version": {"const": 1},
            "api": x.API,
            "auth": x.AUTH,
            "idempotency": x.IDEMPOTENCY,
            "defaults": x.DEFAULTS,
            "pools": x.POOLS,
            "retry_policies": x.RETRY_POLICIES,
            "futures": x.FUTURES,
            "session": x.SESSION,
            "telemetry": x.TELEMETRY,
            "dispatch_limits": x.DISPATCH_LIMITS,
            "rate_limit": x.RATE_LIMIT,
            "tracing": x.TRACING,
            "circuit_breakers": x.CIRCUIT_BREAKERS,
            "errors": x.ERRORS,
            "sdk": x.SDK_GROUPS,
            "types": {
                "type": "object",
                "propertyNames": _TYPE_NAME,
                "additionalProperties": {"$ref": "#/$defs/schema"},
            },
            "operations": {"type": "array", "items": OPERATION, "minItems": 1},
        },
        ["manifest_version", "api", "auth", "defaults", "pools", "retry_policies", "errors",
         "sdk", "types", "operations"],
    ),
}
