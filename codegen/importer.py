"""OpenAPI 3.x -> manifest: the bridge in the other direction.

For a document compiled by tinkex this is the exact inverse of ``compile_manifest``
(up to ``normalize_manifest``). For any other OpenAPI 3.x document it produces a
manifest skeleton: types, operations and parameters are carried over, and the
runtime sections get conservative defaults that a person then edits.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .compile import OPERATION_KEYS, ROOT_SECTIONS
from .validate import HTTP_METHODS

_NON_IDENT = re.compile(r"[^a-z0-9_]+")


def schema_from_openapi(schema: Any) -> Any:
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.rsplit("/", 1)[-1]
            elif key == "discriminator":
                disc = dict(value)
                if "mapping" in disc:
                    disc["mapping"] = {k: v.rsplit("/", 1)[-1] for k, v in disc["mapping"].items()}
                out[key] = disc
            elif key == "nullable":  # OpenAPI 3.0 -> JSON Schema 2020-12
                continue
            elif key in ("default", "examples", "enum", "const"):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = schema_from_openapi(value)
        if schema.get("nullable") is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [schema_from_openapi(v) for v in schema]
    return schema


def _ref_name(schema: Any) -> str | None:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()
    return _NON_IDENT.sub("_", text).strip("_") or "op"


def _operation(path: str, method: str, op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": op.get("operationId") or _snake(f"{method}_{path}")}
    out["id"] = _snake(out["id"])
    out["method"] = method.upper()
    out["path"] = path
    for key in ("summary", "description"):
        if key in op:
            out[key] = op[key]
    params = []
    for p in op.get("parameters") or []:
        if "$ref" in p or p.get("in") not in ("path", "query", "header"):
            continue
        param: dict[str, Any] = {"name": p["name"], "in": p["in"]}
        if "description" in p:
            param["description"] = p["description"]
        if p.get("required") and p["in"] != "path":
            param["required"] = True
        if p.get("deprecated"):
            param["deprecated"] = True
        param["schema"] = schema_from_openapi(p.get("schema") or {})
        params.append(param)
    if params:
        out["params"] = params
    content = (op.get("requestBody") or {}).get("content") or {}
    encoding = (op.get("x-tinkex-body-encoding") or {}).get("type")
    body_media = "multipart/form-data" if encoding == "multipart" else "application/json"
    if body_media in content:
        name = _ref_name(content[body_media].get("schema"))
        if name:
            out["body"] = name
    others = [m for m in content if m != body_media and encoding != "raw"]
    if others:
        out["media"] = {"request": others}
    ok = (op.get("responses") or {}).get("200") or (op.get("responses") or {}).get("201") or {}
    name = _ref_name(((ok.get("content") or {}).get("application/json") or {}).get("schema"))
    if name:
        out["result"] = name
    if op.get("security") == []:
        out["auth"] = False
    if op.get("deprecated"):
        out["deprecated"] = True
    for key, ext in OPERATION_KEYS.items():
        if ext in op:
            out[key] = copy.deepcopy(op[ext])
    if "sdk" not in out:
        tag = (op.get("tags") or ["default"])[0]
        out["sdk"] = {"group": _snake(tag), "method": out["id"]}
    return out


def import_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a manifest for ``doc`` (exact for tinkex documents, a skeleton otherwise)."""
    info = doc.get("info") or {}
    api_ext = doc.get("x-tinkex-api") or {}
    api: dict[str, Any] = {
        "name": api_ext.get("name") or _snake(info.get("title", "api")),
        "title": info.get("title", "API"),
        "version": str(info.get("version", "0")),
    }
    for key in ("parity_version", "user_agent", "env"):
        if key in api_ext:
            api[key] = copy.deepcopy(api_ext[key])
    if "description" in info:
        api["description"] = info["description"]
    servers = doc.get("servers") or [{"url": "http://localhost"}]
    api["base_url"] = servers[0]["url"]
    manifest: dict[str, Any] = {"manifest_version": doc.get("x-tinkex-manifest-version", 1),
                                "api": {k: api[k] for k in ("name", "title", "version",
                                                            "parity_version", "description",
                                                            "base_url", "user_agent", "env")
                                        if k in api}}
    for section, ext in ROOT_SECTIONS.items():
        if ext in doc:
            manifest[section] = copy.deepcopy(doc[ext])
    operations = []
    for path, item in (doc.get("paths") or {}).items():
        for method, op in (item or {}).items():
            if method in HTTP_METHODS and isinstance(op, dict):
                operations.append(_operation(path, method, op))
    schemas = (doc.get("components") or {}).get("schemas") or {}
    manifest["types"] = {name: schema_from_openapi(s) for name, s in schemas.items()}
    manifest["operations"] = operations
    _fill_skeleton(manifest, doc)
    return _order(manifest)


def _fill_skeleton(manifest: dict[str, Any], doc: dict[str, Any]) -> None:
    """Give a foreign document the sections a manifest requires, with safe defaults."""
    if "auth" not in manifest:
        header = "Authorization"
        for scheme in ((doc.get("components") or {}).get("securitySchemes") or {}).values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                header = scheme["name"]
                break
        manifest["auth"] = {"header": header}
    manifest.setdefault("defaults", {"pool": "default", "retry": "standard",
                                     "timeout": {"connect": 5, "read": 60}})
    manifest.setdefault("pools", {"default": {"connections": 10}})
    manifest.setdefault("retry_policies", {"standard": {
        "max_attempts": 3, "statuses": [408, 429, "5XX"], "connection_errors": True,
        "backoff": {"initial": 0.5, "multiplier": 2, "max": 8, "jitter": 0.25}}})
    manifest.setdefault("errors", {"map": [{"status": "4XX", "exception": "APIStatusError"},
                                           {"status": "5XX", "exception": "InternalServerError"}]})
    if "sdk" not in manifest:
        groups = sorted({op["sdk"]["group"] for op in manifest["operations"]}) or ["default"]
        manifest["sdk"] = {"client_class": "Client", "groups": {
            g: {"class_name": "".join(w.capitalize() for w in g.split("_")) + "API"} for g in groups}}


_ORDER = ["manifest_version", "api", "auth", "idempotency", "defaults", "pools", "retry_policies",
          "futures", "session", "telemetry", "dispatch_limits", "rate_limit", "circuit_breakers", "tracing",
          "errors", "sdk", "types", "operations"]


def _order(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: manifest[k] for k in _ORDER if k in manifest}
