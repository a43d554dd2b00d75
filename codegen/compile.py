"""Compile a checked manifest into an OpenAPI 3.1 document with ``x-tinkex-*`` keys.

Standard OpenAPI carries everything it can express (paths, parameters, bodies,
responses, schemas, security); each runtime semantic gets exactly one
extension key, at the root for defaults and on an operation for overrides.
``importer.py`` is the exact inverse (up to ``normalize_manifest``).
"""

from __future__ import annotations

import copy
from typing import Any

from .extension_schemas import MULTIPART, RAW_MEDIA, STREAM_MEDIA

SCHEMA_PREFIX = "#/components/schemas/"
ERROR_RESPONSE = "#/components/responses/Error"
SECURITY_SCHEME = "apiKey"

# manifest section -> root extension key
ROOT_SECTIONS = {
    "idempotency": "x-tinkex-idempotency",
    "defaults": "x-tinkex-defaults",
    "pools": "x-tinkex-pools",
    "retry_policies": "x-tinkex-retry-policies",
    "futures": "x-tinkex-futures",
    "session": "x-tinkex-session",
    "telemetry": "x-tinkex-telemetry",
    "dispatch_limits": "x-tinkex-dispatch-limits",
    "rate_limit": "x-tinkex-rate-limit",
    "tracing": "x-tinkex-tracing",
    "circuit_breakers": "x-tinkex-circuit-breakers",
    "errors": "x-tinkex-errors",
    "sdk": "x-tinkex-sdk-groups",
    "auth": "x-tinkex-auth",
}
# operation key -> operation extension key (copied verbatim)
OPERATION_KEYS = {
    "pool": "x-tinkex-pool",
    "retry": "x-tinkex-retry",
    "timeout": "x-tinkex-timeout",
    "idempotent": "x-tinkex-idempotent",
    "future": "x-tinkex-future",
    "sequence": "x-tinkex-sequence",
    "pagination": "x-tinkex-pagination",
    "dispatch": "x-tinkex-dispatch",
    "circuit_breaker": "x-tinkex-circuit-breaker",
    "rate_limited": "x-tinkex-rate-limited",
    "stream": "x-tinkex-stream",
    "body_encoding": "x-tinkex-body-encoding",
    "sdk": "x-tinkex-sdk",
}
API_INFO_KEYS = ("title", "version", "description")
API_EXTENSION_KEYS = ("name", "parity_version", "user_agent", "env")


def schema_to_openapi(schema: Any) -> Any:
    """Rewrite manifest ``$ref: Name`` (and discriminator mappings) into component refs."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref":
                out[key] = SCHEMA_PREFIX + value
            elif key == "discriminator":
                disc = dict(value)
                if "mapping" in disc:
                    disc["mapping"] = {k: SCHEMA_PREFIX + v for k, v in disc["mapping"].items()}
                out[key] = disc
            elif key in ("default", "examples", "enum", "const"):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = schema_to_openapi(value)
        return out
    if isinstance(schema, list):
        return [schema_to_openapi(v) for v in schema]
    return schema


def _operation(op: dict[str, Any], has_error_schema: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op["id"]}
    for key in ("summary", "description"):
        if key in op:
            out[key] = op[key]
    if op.get("deprecated"):
        out["deprecated"] = True
    params = []
    for p in op.get("params") or []:
        param: dict[str, Any] = {"name": p["name"], "in": p["in"]}
        if "description" in p:
            param["description"] = p["description"]
        if p["in"] == "path" or p.get("required"):
            param["required"] = True
        if p.get("deprecated"):
            param["deprecated"] = True
        param["schema"] = schema_to_openapi(p["schema"])
        params.append(param)
    if params:
        out["parameters"] = params
    encoding = op.get("body_encoding") or {}
    if encoding.get("type") == "raw":
        media = encoding.get("media", RAW_MEDIA)
        out["requestBody"] = {"required": True, "content": {
            media: {"schema": {"type": "string", "format": "binary"}}}}
    elif op.get("body"):
        body_media = MULTIPART if encoding.get("type") == "multipart" else "application/json"
        content: dict[str, Any] = {body_media: {"schema": {"$ref": SCHEMA_PREFIX + op["body"]}}}
        for media in (op.get("media") or {}).get("request") or []:
            content[media] = {"schema": {"type": "string", "contentMediaType": media}}
        out["requestBody"] = {"required": True, "content": content}
    result = op.get("result")
    stream = op.get("stream")
    ok: dict[str, Any]
    if stream:
        ok = {"description": f"A stream of {stream['event']} events.", "content": {
            STREAM_MEDIA[stream["format"]]: {"schema": {"$ref": SCHEMA_PREFIX + stream["event"]}}}}
    elif result:
        ok = {"description": f"{result}", "content": {
            "application/json": {"schema": {"$ref": SCHEMA_PREFIX + result}}}}
    else:
        ok = {"description": "Success; the body carries no information."}
    out["responses"] = {"200": ok}
    if has_error_schema:
        out["responses"]["default"] = {"$ref": ERROR_RESPONSE}
    if op.get("auth") is False:
        out["security"] = []
    for key, ext in OPERATION_KEYS.items():
        if key in op:
            out[ext] = copy.deepcopy(op[key])
    return out


def compile_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for a manifest that passed ``check_manifest``."""
    api = manifest["api"]
    info = {k: api[k] for k in API_INFO_KEYS if k in api}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": api["base_url"]}],
        "security": [{SECURITY_SCHEME: []}],
        "x-tinkex-manifest-version": manifest["manifest_version"],
        "x-tinkex-api": {k: copy.deepcopy(api[k]) for k in API_EXTENSION_KEYS if k in api},
    }
    for section, ext in ROOT_SECTIONS.items():
        if section in manifest:
            doc[ext] = copy.deepcopy(manifest[section])
    paths: dict[str, dict[str, Any]] = {}
    has_error_schema = bool(manifest["errors"].get("schema"))
    for op in manifest["operations"]:
        paths.setdefault(op["path"], {})[op["method"].lower()] = _operation(op, has_error_schema)
    doc["paths"] = paths
    components: dict[str, Any] = {
        "schemas": {name: schema_to_openapi(s) for name, s in manifest["types"].items()},
        "securitySchemes": {
            SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": manifest["auth"]["header"]}
        },
    }
    if has_error_schema:
        components["responses"] = {
            "Error": {
                "description": "An error; the status code tells which.",
                "content": {"application/json": {
                    "schema": {"$ref": SCHEMA_PREFIX + manifest["errors"]["schema"]}}},
            }
        }
    doc["components"] = components
    return doc


def normalize_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Drop keys that only restate a default, so equal manifests compare equal.

    Path parameters are always required, parameters are optional by default, and
    operations need auth and are not deprecated unless they say so.
    """
    out = copy.deepcopy(manifest)
    for op in out.get("operations") or []:
        if op.get("auth") is True:
            del op["auth"]
        if op.get("deprecated") is False:
            del op["deprecated"]
        for p in op.get("params") or []:
            if p.get("in") == "path" or p.get("required") is False:
                p.pop("required", None)
            if p.get("deprecated") is False:
                del p["deprecated"]
    return out
