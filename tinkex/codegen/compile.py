"""Compile a checked manifest into an OpenAPI 3.1 document with ``x-tinkex-*`` keys.

Standard OpenAPI carries everything it can express (paths, parameters, bodies,
responses, schemas, security); each runtime semantic gets exactly one
extension key, at the root for defaults and on an operation for overrides.
``importer.py`` is the exact inverse (up to ``normalize_manifest``).
"""

from __future__ import annotations

import copy
from typing import Any

from tinkex.core.model.document import SCHEMA_PREFIX

from .extension_schemas import MULTIPART, RAW_MEDIA, STREAM_MEDIA
from .manifest_schema import ANNOTATION_KEYWORDS

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
    "circuit_breakers": "x-tinkex-circuit-breakers",
    "tracing": "x-tinkex-tracing",
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
    "chunking": "x-tinkex-chunking",
    "protobuf": "x-tinkex-protobuf",
    "sdk": "x-tinkex-sdk",
    "poll_interval": "x-tinkex-poll-interval",
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
            elif key in ANNOTATION_KEYWORDS or key.startswith("x-"):
                out[key] = copy.deepcopy(value)
            elif key in ("properties", "patternProperties", "dependentSchemas"):
                out[key] = {k: schema_to_openapi(v) for k, v in value.items()}
            else:
                out[key] = schema_to_openapi(value)
        return out
    if isinstance(schema, list):
        return [schema_to_openapi(v) for v in schema]
    return schema


PARAM_KEYS = ("description", "deprecated", "style", "explode", "allowReserved",
              "allowEmptyValue", "example", "examples")
ANNOTATION_KEYS = ("externalDocs",)
"""Standard OpenAPI keys copied verbatim from a manifest operation."""
NO_BODY = "Success; the body carries no information."
EXCEPTION_RESPONSE = "#/components/responses/"


def extensions(src: dict[str, Any]) -> dict[str, Any]:
    """The pass-through ``x-*`` keys of a manifest node (not the compiler's own)."""
    return {k: copy.deepcopy(v) for k, v in src.items()
            if k.startswith("x-") and not k.startswith("x-tinkex-")}


def group_tag(manifest: dict[str, Any], group: str) -> str:
    return str(manifest["sdk"]["groups"].get(group, {}).get("tag") or group)


def success_description(op: dict[str, Any]) -> str:
    if op.get("stream"):
        return f"A stream of {op['stream']['event']} events."
    return str(op["result"]) if op.get("result") else NO_BODY


def error_responses(manifest: dict[str, Any]) -> dict[str, Any]:
    """An operation's error responses as the error map says (one shared response per exception)."""
    return {str(entry["status"]): {"$ref": EXCEPTION_RESPONSE + entry["exception"]}
            for entry in manifest["errors"]["map"]}


def _content(media: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    return {m: ({"schema": copy.deepcopy(schema)} if schema else {}) for m in media}


def _media_schema(media: str, types: dict[str, str]) -> dict[str, Any]:
    if media in types:
        return {"$ref": SCHEMA_PREFIX + types[media]}
    return {"type": "string", "contentMediaType": media}


def _response(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": spec["description"]}
    if spec.get("type") or spec.get("media"):
        schema = {"$ref": SCHEMA_PREFIX + spec["type"]} if spec.get("type") else None
        out["content"] = _content(spec.get("media") or ["application/json"], schema)
    out.update(extensions(spec))
    return out


def _parameter(p: dict[str, Any]) -> dict[str, Any]:
    param: dict[str, Any] = {"name": p["name"], "in": p["in"]}
    if "description" in p:
        param["description"] = p["description"]
    if p["in"] == "path" or p.get("required"):
        param["required"] = True
    for key in PARAM_KEYS[1:]:
        if key in p and (key != "deprecated" or p[key]):
            param[key] = copy.deepcopy(p[key])
    param.update(extensions(p))
    param["schema"] = schema_to_openapi(p["schema"])
    return param


def _future_link(manifest: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """A standard link from a future's submit response to the operation that resolves it."""
    futures = manifest["futures"]
    field = futures["request_id_field"]
    result = op["future"]["result"]
    return {"operationId": futures["retrieve"],
            "requestBody": {field: f"$response.body#/{field}"},
            "description": f"Poll {futures['retrieve']} with this {field}; the eventual result "
                           f"is a {result} (#/components/schemas/{result}, also named by "
                           "x-tinkex-future.result)."}


def _operation(manifest: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op["id"]}
    for key in ("summary", "description"):
        if key in op:
            out[key] = op[key]
    out["tags"] = list(op.get("tags") or [group_tag(manifest, op["sdk"]["group"])])
    for key in ANNOTATION_KEYS:
        if key in op:
            out[key] = copy.deepcopy(op[key])
    if op.get("deprecated"):
        out["deprecated"] = True
    params = [_parameter(p) for p in op.get("params") or []]
    if params:
        out["parameters"] = params
    body = _request_body(op)
    if body is not None:
        out["requestBody"] = body
    responses = {str(op.get("result_status") or "200"): _success(manifest, op)}
    if "responses" in op:
        responses.update((str(k), _response(v)) for k, v in op["responses"].items())
    else:
        responses.update(error_responses(manifest))
    out["responses"] = responses
    if "security" in op:
        out["security"] = copy.deepcopy(op["security"])
    elif op.get("auth") is False:
        out["security"] = []
    out.update(extensions(op))
    for key, ext in OPERATION_KEYS.items():
        if key in op:
            out[ext] = copy.deepcopy(op[key])
    return out


def _request_body(op: dict[str, Any]) -> dict[str, Any] | None:
    media = op.get("media") or {}
    encoding = (op.get("body_encoding") or {}).get("type")
    if not (op.get("body") or media.get("request") or encoding):
        return None
    content: dict[str, Any] = {}
    if encoding == "raw":
        content[(op.get("body_encoding") or {}).get("media", RAW_MEDIA)] = {
            "schema": {"type": "string", "format": "binary"}}
    elif op.get("body"):
        body_media = MULTIPART if encoding == "multipart" else "application/json"
        content[body_media] = {"schema": {"$ref": SCHEMA_PREFIX + op["body"]}}
    for m in media.get("request") or []:
        content[m] = {"schema": _media_schema(m, media.get("schemas") or {})}
    body: dict[str, Any] = {}
    if "body_description" in op:
        body["description"] = op["body_description"]
    body["required"] = op.get("body_required", True)
    body["content"] = content
    return body


def _success(manifest: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """The success response: its content per media type, and the link to a future's result."""
    media = op.get("media") or {}
    ok: dict[str, Any] = {"description": op["result_description"] if "result_description" in op
                          else success_description(op)}
    ok_content: dict[str, Any] = {}
    stream = op.get("stream")
    if stream:
        ok_content[STREAM_MEDIA[stream["format"]]] = {
            "schema": {"$ref": SCHEMA_PREFIX + stream["event"]}}
    if op.get("result"):
        ok_content["application/json"] = {"schema": {"$ref": SCHEMA_PREFIX + op["result"]}}
    for m in media.get("response") or []:
        ok_content[m] = {"schema": _media_schema(m, media.get("response_schemas") or {})}
    if ok_content:
        ok["content"] = ok_content
    if op.get("future") and manifest.get("futures"):
        ok["links"] = {"result": _future_link(manifest, op)}
    return ok


def root_tags(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's tags: the manifest's own list, else one per SDK group."""
    if "tags" in manifest:
        return copy.deepcopy(manifest["tags"])
    out = []
    for name, group in manifest["sdk"]["groups"].items():
        tag: dict[str, Any] = {"name": group_tag(manifest, name)}
        if group.get("description"):
            tag["description"] = group["description"]
        out.append(tag)
    return out


def _auth_extension(auth: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in auth.items() if k not in ("schemes", "security")}


def _exception_responses(manifest: dict[str, Any]) -> dict[str, Any]:
    errors = manifest["errors"]
    statuses: dict[str, list[str]] = {}
    for entry in errors["map"]:
        statuses.setdefault(entry["exception"], []).append(str(entry["status"]))
    out: dict[str, Any] = {}
    for exception, codes in statuses.items():
        response: dict[str, Any] = {"description": f"{exception} (HTTP {', '.join(codes)})"}
        if errors.get("schema"):
            response["content"] = {"application/json": {
                "schema": {"$ref": SCHEMA_PREFIX + errors["schema"]}}}
        out[exception] = response
    return out


def compile_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for a manifest that passed ``check_manifest``."""
    api = manifest["api"]
    info = {k: api[k] for k in API_INFO_KEYS if k in api}
    info.update(copy.deepcopy(api.get("info") or {}))
    server: dict[str, Any] = {"url": api["base_url"]}
    if api.get("server_variables"):
        server["variables"] = copy.deepcopy(api["server_variables"])
    auth = manifest["auth"]
    schemes = auth.get("schemes")
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": info,
        "servers": [server, *copy.deepcopy(api.get("servers") or [])],
    }
    legacy = schemes is None and "header" in auth  # one API key header
    if legacy:
        doc["security"] = [{SECURITY_SCHEME: []}]
    elif "security" in auth:
        doc["security"] = copy.deepcopy(auth["security"])
    doc["tags"] = root_tags(manifest)
    if "externalDocs" in manifest:
        doc["externalDocs"] = copy.deepcopy(manifest["externalDocs"])
    doc["x-tinkex-manifest-version"] = manifest["manifest_version"]
    doc["x-tinkex-api"] = {k: copy.deepcopy(api[k]) for k in API_EXTENSION_KEYS if k in api}
    for section, ext in ROOT_SECTIONS.items():
        if section == "auth":
            doc[ext] = _auth_extension(auth)
        elif section in manifest:
            doc[ext] = copy.deepcopy(manifest[section])
    doc.update(extensions(manifest))
    paths: dict[str, dict[str, Any]] = {}
    uses_error_map = False
    for op in manifest["operations"]:
        paths.setdefault(op["path"], {})[op["method"].lower()] = _operation(manifest, op)
        uses_error_map = uses_error_map or "responses" not in op
    doc["paths"] = paths
    components: dict[str, Any] = {
        "schemas": {name: schema_to_openapi(s) for name, s in manifest["types"].items()},
    }
    if legacy:
        components["securitySchemes"] = {
            SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": auth["header"]}}
    elif schemes:
        components["securitySchemes"] = copy.deepcopy(schemes)
    if uses_error_map:
        components["responses"] = _exception_responses(manifest)
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
