"""JSON Schema of the manifest file itself (structure only; references are checked in check.py)."""

from __future__ import annotations

from typing import Any

from . import extension_schemas as x

# JSON Schema 2020-12 keywords (and OpenAPI's schema annotations) a manifest type may
# use, plus any ``x-*`` key. Anything else is a typo or an unsupported feature and is
# refused, so nothing is silently dropped.
TYPE_KEYWORDS = {
    "type", "properties", "required", "items", "enum", "const", "default", "description",
    "title", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "discriminator",
    "additionalProperties", "patternProperties", "unevaluatedProperties", "unevaluatedItems",
    "dependentRequired", "dependentSchemas", "contains", "minContains", "maxContains",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "minItems", "maxItems", "uniqueItems", "pattern", "format", "examples", "example",
    "contentEncoding", "contentMediaType", "contentSchema", "deprecated", "readOnly",
    "writeOnly", "$ref", "prefixItems", "propertyNames", "minProperties", "maxProperties",
    "multipleOf", "xml", "externalDocs", "$comment",
}
ANNOTATION_KEYWORDS = ("default", "examples", "example", "enum", "const", "xml", "externalDocs")
"""Keywords whose values are data, not schemas (never searched for references)."""
JSON_TYPES = ["object", "array", "string", "integer", "number", "boolean", "null"]
EXTENSION_KEY = r"^x-(?!tinkex-)"
"""Pass-through annotations: any ``x-*`` key but the compiler's own."""

# OpenAPI's own rule for component names
TYPE_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
_TYPE_NAME = {"type": "string", "pattern": TYPE_NAME_PATTERN}
_EXTENSIONS: dict[str, Any] = {EXTENSION_KEY: {}}

# A recursive schema for the type language.
TYPE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "schema": {
            "type": "object",
            "propertyNames": {"anyOf": [{"enum": sorted(TYPE_KEYWORDS)},
                                        {"pattern": EXTENSION_KEY}]},
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
                "not": {"$ref": "#/$defs/schema"},
                "if": {"$ref": "#/$defs/schema"},
                "then": {"$ref": "#/$defs/schema"},
                "else": {"$ref": "#/$defs/schema"},
                "contains": {"$ref": "#/$defs/schema"},
                "contentSchema": {"$ref": "#/$defs/schema"},
                "unevaluatedProperties": {"oneOf": [{"type": "boolean"},
                                                    {"$ref": "#/$defs/schema"}]},
                "unevaluatedItems": {"oneOf": [{"type": "boolean"}, {"$ref": "#/$defs/schema"}]},
                "patternProperties": {"type": "object",
                                      "additionalProperties": {"$ref": "#/$defs/schema"}},
                "dependentSchemas": {"type": "object",
                                     "additionalProperties": {"$ref": "#/$defs/schema"}},
                "dependentRequired": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "string"}}},
                "discriminator": {
                    "type": "object",
                    "properties": {
                        "propertyName": {"type": "string"},
                        "mapping": {"type": "object", "additionalProperties": _TYPE_NAME},
                    },
                    "patternProperties": _EXTENSIONS,
                    "required": ["propertyName"],
                    "additionalProperties": False,
                },
                "xml": {"type": "object"},
                "externalDocs": {"type": "object"},
                "$comment": {"type": "string"},
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

def _ext(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits pass-through ``x-*`` keys."""
    return {**schema, "patternProperties": _EXTENSIONS}


PARAM = _ext(x._obj(
    {
        "name": {"type": "string", "minLength": 1},
        "in": {"enum": ["path", "query", "header", "cookie"]},
        "description": {"type": "string"},
        "required": {"type": "boolean"},
        "deprecated": {"type": "boolean"},
        "style": {"enum": ["simple", "label", "matrix", "form", "spaceDelimited",
                           "pipeDelimited", "deepObject"]},
        "explode": {"type": "boolean"},
        "allowReserved": {"type": "boolean"},
        "allowEmptyValue": {"type": "boolean"},
        "example": {},
        "examples": {"type": "object"},
        "schema": {"$ref": "#/$defs/schema"},
    },
    ["name", "in", "schema"],
))

_MEDIA_TYPES = {"type": "object", "propertyNames": {"pattern": x.MEDIA_PATTERN},
                "additionalProperties": _TYPE_NAME}
MEDIA = x._obj({
    "request": x.OP_MEDIA["properties"]["request"],
    "schemas": _MEDIA_TYPES,
    "response": x.OP_MEDIA["properties"]["request"],
    "response_schemas": _MEDIA_TYPES,
})
RESPONSE = _ext(x._obj({
    "description": {"type": "string"},
    "type": _TYPE_NAME,
    "media": {"type": "array", "items": x._MEDIA, "minItems": 1, "uniqueItems": True},
}, ["description"]))
STATUS_KEY = r"^([1-5][0-9][0-9]|[1-5]XX|default)$"
SECURITY = {"type": "array", "items": {"type": "object", "additionalProperties": {
    "type": "array", "items": {"type": "string"}}}}

OPERATION = _ext(x._obj(
    {
        "id": {"type": "string", "pattern": r"^[A-Za-z0-9_.:/-]+$"},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
                            "TRACE"]},
        "path": {"type": "string", "pattern": r"^/\S*$"},
        "summary": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "externalDocs": {"type": "object"},
        "params": {"type": "array", "items": PARAM},
        "body": _TYPE_NAME,
        "body_required": {"type": "boolean"},
        "body_description": {"type": "string"},
        "result": {"oneOf": [_TYPE_NAME, {"type": "null"}]},
        "result_status": {"type": "string", "pattern": r"^(2[0-9][0-9]|2XX)$"},
        "result_description": {"type": "string"},
        "responses": {"type": "object", "propertyNames": {"pattern": STATUS_KEY},
                      "additionalProperties": RESPONSE},
        "security": SECURITY,
        "pool": x._IDENT,
        "retry": x._IDENT,
        "timeout": x.TIMEOUT,
        "idempotent": {"type": "boolean"},
        "auth": {"type": "boolean"},
        "future": x.OP_FUTURE,
        "sequence": x.OP_SEQUENCE,
        "media": MEDIA,
        "pagination": x.OP_PAGINATION,
        "dispatch": x._IDENT,
        "circuit_breaker": x.OP_CIRCUIT_BREAKER,
        "rate_limited": {"type": "boolean"},
        "stream": x.OP_STREAM,
        "body_encoding": x.OP_BODY_ENCODING,
        "chunking": x.OP_CHUNKING,
        "protobuf": x.OP_PROTOBUF,
        "sdk": x.OP_SDK,
        "poll_interval": x.OP_POLL_INTERVAL,
        "deprecated": {"type": "boolean"},
    },
    ["id", "method", "path", "sdk"],
))

API = _ext({**x.API, "properties": {
    **x.API["properties"],
    "base_url": {"type": "string", "pattern": r"^(https?://|/)"},
    "server_variables": {"type": "object", "additionalProperties": _ext(x._obj({
        "default": {"type": "string"}, "enum": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"}}, ["default"]))},
    "servers": {"type": "array", "items": {"type": "object"}},
    "info": {"type": "object"},
}})
AUTH = {**x.AUTH, "required": [], "properties": {
    **x.AUTH["properties"],
    "schemes": {"type": "object", "minProperties": 1, "additionalProperties": {
        "type": "object", "required": ["type"],
        "properties": {"type": {"enum": ["apiKey", "http", "oauth2", "openIdConnect",
                                         "mutualTLS"]}}}},
    "security": SECURITY,
}}


MANIFEST: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": TYPE_SCHEMA["$defs"],
    **x._obj(
        {
            "manifest_version": {"const": 1},
            "api": API,
            "auth": AUTH,
            "idempotency": x.IDEMPOTENCY,
            "defaults": x.DEFAULTS,
            "pools": x.POOLS,
            "retry_policies": x.RETRY_POLICIES,
            "futures": x.FUTURES,
            "session": x.SESSION,
            "telemetry": x.TELEMETRY,
            "dispatch_limits": x.DISPATCH_LIMITS,
            "rate_limit": x.RATE_LIMIT,
            "circuit_breakers": x.CIRCUIT_BREAKERS,
            "tracing": x.TRACING,
            "errors": x.ERRORS,
            "sdk": x.SDK_GROUPS,
            "tags": {"type": "array", "items": {"type": "object", "required": ["name"]}},
            "externalDocs": {"type": "object"},
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
    "patternProperties": _EXTENSIONS,
}
