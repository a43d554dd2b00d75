"""OpenAPI 3.x -> manifest: the bridge in the other direction.

For a document compiled by tinkex this is the exact inverse of ``compile_manifest``
(up to ``normalize_manifest``). Any other OpenAPI 3.0 or 3.1 document becomes a
manifest that checks and builds as it is: types, operations, parameters (path
level and ``$ref`` ones included), bodies and responses (inline schemas become
named types), security schemes, servers, tags and every ``x-*`` annotation are
carried; the runtime sections get conservative defaults that a person may then
tune. What cannot be carried is reported, one :class:`ImportWarning` each, at its
JSON pointer in the source document; nothing is dropped silently.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tinkex.core.model.document import HTTP_METHODS
from tinkex.core.model.operations import success_response

from .compile import (
    OPERATION_KEYS,
    PARAM_KEYS,
    ROOT_SECTIONS,
    error_responses,
    group_tag,
    root_tags,
    success_description,
)
from .extension_schemas import MULTIPART, STREAM_MEDIA
from .import_schema import Pointer, SchemaImporter, ref_name

_NON_IDENT = re.compile(r"[^a-z0-9_]+")
_JSON_MEDIA = re.compile(r"^application/([\w.+-]*\+)?json(;.*)?$")
_ROOT_KEYS = {"openapi", "info", "servers", "paths", "components", "security", "tags",
              "externalDocs", "jsonSchemaDialect", "webhooks"}
_INFO_KEYS = ("title", "version", "description")
_OP_KEYS = {"operationId", "summary", "description", "tags", "externalDocs", "parameters",
            "requestBody", "responses", "security", "deprecated", "callbacks", "servers"}


@dataclass(frozen=True, order=True)
class ImportWarning:
    """Something the importer could not carry, and where it is in the source document."""

    pointer: Pointer
    message: str

    def located(self, file: str, line: int) -> str:
        from .locate import pointer_text

        return f"{file}:{line}: {pointer_text(self.pointer)}: {self.message}"


@dataclass
class ImportResult:
    manifest: dict[str, Any]
    warnings: list[ImportWarning] = field(default_factory=list)


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text).lower()
    out = _NON_IDENT.sub("_", text).strip("_") or "op"
    return "_" + out if out[0].isdigit() else out


def _pascal(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", text)) or "Op"


def _extensions(node: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in node.items()
            if k.startswith("x-") and not k.startswith("x-tinkex-")}


class _Importer:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.warnings: list[ImportWarning] = []
        self.schemas = SchemaImporter(self.warn)
        self.components = doc.get("components") or {}
        self.types: dict[str, Any] = {}
        self.op_ids: set[str] = set()

    def warn(self, at: Pointer, message: str) -> None:
        self.warnings.append(ImportWarning(tuple(at), message))

    # ---- references to other components ------------------------------------------------

    def resolve(self, node: Any, at: Pointer, kind: str) -> tuple[Any, Pointer]:
        """Follow ``$ref``s to ``components/<kind>``; return the target and its pointer."""
        seen = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            prefix = f"#/components/{kind}/"
            name = ref[len(prefix):] if ref.startswith(prefix) else None
            if name is None or name in seen or name not in (self.components.get(kind) or {}):
                self.warn(at + ("$ref",), f"$ref {ref!r} does not resolve to components/{kind}: "
                                          "left out")
                return None, at
            seen.add(name)
            node, at = self.components[kind][name], ("components", kind, name)
        return node, at

    def named_type(self, schema: Any, at: Pointer, name_hint: str) -> str | None:
        """The type name for a body or result schema; an inline schema becomes a new type."""
        if not isinstance(schema, dict):
            return None
        name = ref_name(schema.get("$ref")) if set(schema) == {"$ref"} else None
        if name is not None:
            return name
        converted = self.schemas.convert(schema, at)
        name, n = name_hint, 2
        while name in self.types or name in (self.components.get("schemas") or {}):
            name, n = f"{name_hint}{n}", n + 1
        self.types[name] = converted
        return name

    # ---- operations --------------------------------------------------------------------

    def parameters(self, item: dict[str, Any], op: dict[str, Any], at: Pointer,
                   item_at: Pointer) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], tuple[dict[str, Any], Pointer]] = {}
        for source, where in ((item.get("parameters") or [], item_at + ("parameters",)),
                              (op.get("parameters") or [], at + ("parameters",))):
            for i, raw in enumerate(source):
                p, p_at = self.resolve(raw, where + (i,), "parameters")
                if not isinstance(p, dict) or "name" not in p or "in" not in p:
                    continue
                merged[(p["in"], p["name"])] = (p, p_at)  # the operation's own wins
        out = []
        for p, p_at in merged.values():
            param: dict[str, Any] = {"name": p["name"], "in": p["in"]}
            if p.get("required") and p["in"] != "path":
                param["required"] = True
            for key in PARAM_KEYS:
                if key in p and (key != "deprecated" or p[key]):
                    param[key] = copy.deepcopy(p[key])
            param.update(_extensions(p))
            if isinstance(p.get("examples"), dict):
                param["examples"] = self.examples(p["examples"], p_at + ("examples",))
            schema = p.get("schema")
            if schema is None and isinstance(p.get("content"), dict) and p["content"]:
                media, entry = next(iter(p["content"].items()))
                self.warn(p_at + ("content",), f"a parameter serialised as {media} is not "
                                               "carried: sent in its default style instead")
                schema = (entry or {}).get("schema")
            param["schema"] = self.schemas.convert(schema or {}, p_at + ("schema",))
            for key in set(p) - {"name", "in", "required", "schema", "content", *PARAM_KEYS}:
                if not key.startswith("x-"):
                    self.warn(p_at + (key,), f"parameter key {key!r} is not carried")
            out.append(param)
        return out

    def examples(self, examples: dict[str, Any], at: Pointer) -> dict[str, Any]:
        """Examples with ``$ref``s to components/examples resolved (they are not components here)."""
        out = {}
        for name, ex in examples.items():
            target, _ = self.resolve(ex, at + (name,), "examples")
            if target is not None:
                out[name] = copy.deepcopy(target)
        return out

    def path_params(self, path: str, method: str, params: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every placeholder of the template gets a path parameter, and no other stays."""
        at: Pointer = ("paths", path, method)
        placeholders = re.findall(r"\{([^}]+)\}", path)
        out = []
        for p in params:
            if p["in"] == "path" and p["name"] not in placeholders:
                self.warn(at, f"path parameter {p['name']!r} is not in the template {path}: "
                              "left out")
            else:
                out.append(p)
        have = {p["name"] for p in out if p["in"] == "path"}
        for name in placeholders:
            if name not in have:
                self.warn(at, f"placeholder {{{name}}} has no path parameter: carried as a "
                              "string parameter")
                out.append({"name": name, "in": "path", "schema": {"type": "string"}})
        return out

    def request_body(self, op: dict[str, Any], at: Pointer, hint: str, out: dict[str, Any]) -> None:
        body, b_at = self.resolve(op.get("requestBody"), at + ("requestBody",), "requestBodies")
        if not isinstance(body, dict):
            return
        content = body.get("content") or {}
        media: dict[str, Any] = {}
        encoding = (op.get("x-tinkex-body-encoding") or {}).get("type")
        for m, entry in content.items():
            schema = (entry or {}).get("schema")
            where = b_at + ("content", m, "schema")
            if encoding == "raw":  # the whole body is one binary argument: no type
                continue
            if encoding == "multipart" and m == MULTIPART and "body" not in out:
                out["body"] = self.named_type(schema or {}, where, f"{hint}Request")
                continue
            if m != "application/json" and _JSON_MEDIA.match(m) and "body" not in out \
                    and "application/json" not in content:
                self.warn(b_at + ("content", m), f"{m} is sent as application/json")
                m = "application/json"
            self._media_leftovers(entry, b_at + ("content", m))
            if m == "application/json" and "body" not in out:
                name = self.named_type(schema or {}, where, f"{hint}Request")
                out["body"] = name
            else:
                media.setdefault("request", []).append(m)
                if _is_opaque(schema, m):
                    continue
                name = self.named_type(schema, where, f"{hint}{_pascal(m)}Request")
                if name:
                    media.setdefault("schemas", {})[m] = name
        if "description" in body:
            out["body_description"] = body["description"]
        if not body.get("required", False):
            out["body_required"] = False
        if media:
            out["media"] = media

    def _media_leftovers(self, entry: Any, at: Pointer) -> None:
        for key in (entry or {}):
            if key != "schema":
                self.warn(at + (key,), f"media type {key} are not carried")

    def responses(self, op: dict[str, Any], at: Pointer, hint: str, out: dict[str, Any],
                  has_future: bool) -> None:
        status, _ = success_response(op)
        others: dict[str, Any] = {}
        refs: dict[str, Any] = {}
        for code, raw in (op.get("responses") or {}).items():
            code = str(code)
            if code != status:
                refs[code] = copy.deepcopy(raw)
            r, r_at = self.resolve(raw, at + ("responses", code), "responses")
            if not isinstance(r, dict):
                continue
            for key in set(r) - {"description", "content"}:
                if key == "links" and has_future and code == status:
                    continue
                if not key.startswith("x-"):
                    self.warn(r_at + (key,), f"response {key} are not carried")
            if code == status:
                stream = op.get("x-tinkex-stream")
                self._success(r, r_at, code, hint, out,
                              STREAM_MEDIA[stream["format"]] if stream else None)
            else:
                others[code] = self._other_response(r, r_at, f"{hint}{_pascal(code)}Response")
        out["_responses"], out["_response_refs"] = others, refs

    def _success(self, r: dict[str, Any], at: Pointer, code: str, hint: str,
                 out: dict[str, Any], stream_media: str | None = None) -> None:
        if code != "200":
            out["result_status"] = code
        media: dict[str, Any] = {}
        for m, entry in (r.get("content") or {}).items():
            if m == stream_media:  # the events' type is in x-tinkex-stream
                continue
            schema = (entry or {}).get("schema")
            where = at + ("content", m, "schema")
            self._media_leftovers(entry, at + ("content", m))
            if m == "application/json" and "result" not in out:
                out["result"] = self.named_type(schema or {}, where, f"{hint}Response")
            else:
                media.setdefault("response", []).append(m)
                if not _is_opaque(schema, m):
                    name = self.named_type(schema, where, f"{hint}{_pascal(m)}Response")
                    if name:
                        media.setdefault("response_schemas", {})[m] = name
        if media:
            out.setdefault("media", {}).update(media)
        out["_result_description"] = r.get("description", "")

    def _other_response(self, r: dict[str, Any], at: Pointer, hint: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"description": r.get("description", "")}
        content = r.get("content") or {}
        if content:
            types = {}
            for m, entry in content.items():
                self._media_leftovers(entry, at + ("content", m))
                schema = (entry or {}).get("schema")
                types[m] = self.named_type(schema, at + ("content", m, "schema"), hint) \
                    if schema else None
            distinct = set(types.values())
            if len(distinct) > 1:
                self.warn(at + ("content",), "media types with different schemas: only the "
                                             "first one's schema is carried")
            first = next(iter(types.values()))
            if first:
                spec["type"] = first
            if list(content) != ["application/json"] or not first:
                spec["media"] = list(content)
        spec.update(_extensions(r))
        return spec

    def operation(self, path: str, method: str, op: dict[str, Any],
                  item: dict[str, Any]) -> dict[str, Any]:
        at: Pointer = ("paths", path, method)
        op_id = re.sub(r"[^A-Za-z0-9_.:/-]", "_", str(op.get("operationId") or
                                                     _snake(f"{method}_{path}")))
        unique, n = op_id, 2
        while unique in self.op_ids:
            unique, n = f"{op_id}_{n}", n + 1
        if unique != op_id:
            self.warn(at + ("operationId",), f"operationId {op_id!r} is used twice: this one "
                                             f"is {unique!r}")
        self.op_ids.add(unique)
        out: dict[str, Any] = {"id": unique}
        out["method"] = method.upper()
        out["path"] = path
        for key in ("summary", "description"):
            if key in (op or {}):
                out[key] = op[key]
            elif key in item:
                out[key] = item[key]
        if op.get("tags"):
            out["tags"] = list(op["tags"])
        if "externalDocs" in op:
            out["externalDocs"] = copy.deepcopy(op["externalDocs"])
        params = self.path_params(path, method, self.parameters(item, op, at, ("paths", path)))
        if params:
            out["params"] = params
        hint = _pascal(out["id"])
        self.request_body(op, at, hint, out)
        self.responses(op, at, hint, out, "x-tinkex-future" in op)
        if op.get("security") == []:
            out["auth"] = False
        elif "security" in op:
            out["security"] = copy.deepcopy(op["security"])
        if op.get("deprecated"):
            out["deprecated"] = True
        for key in ("callbacks", "servers"):
            if key in op:
                self.warn(at + (key,), f"operation {key} are not carried")
        out.update(_extensions(op))
        for key, ext in OPERATION_KEYS.items():
            if ext in op:
                out[key] = copy.deepcopy(op[ext])
        for key in set(op) - _OP_KEYS:
            if not key.startswith("x-"):
                self.warn(at + (key,), f"operation key {key!r} is not carried")
        if "sdk" not in out:
            tag = (op.get("tags") or ["default"])[0]
            out["sdk"] = {"group": _snake(str(tag)), "method": _snake(out["id"])}
        return out


def _is_opaque(schema: Any, media: str) -> bool:
    """A schema that only says "bytes of this media type" (what compile writes for media)."""
    if not isinstance(schema, dict):
        return True
    return schema == {"type": "string", "contentMediaType": media} or \
        (schema.get("type") == "string" and schema.get("format") == "binary" and len(schema) == 2)


def import_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a manifest for ``doc`` (exact for tinkex documents); see :func:`import_document`."""
    return import_document(doc).manifest


def import_document(doc: dict[str, Any]) -> ImportResult:
    """The manifest for ``doc`` and a warning for each construct it could not carry."""
    imp = _Importer(doc)
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
    extra_info = {k: copy.deepcopy(v) for k, v in info.items() if k not in _INFO_KEYS}
    servers = doc.get("servers") or [{"url": "/"}]
    api["base_url"] = servers[0].get("url") or "/"
    if servers[0].get("variables"):
        api["server_variables"] = {
            name: {k: (str(v) if k == "default" else copy.deepcopy(v)) for k, v in var.items()}
            for name, var in servers[0]["variables"].items()}
    for key in set(servers[0]) - {"url", "variables"}:
        imp.warn(("servers", 0, key), f"server key {key!r} is not carried")
    if len(servers) > 1:
        api["servers"] = copy.deepcopy(servers[1:])
    if extra_info:
        api["info"] = extra_info
    manifest: dict[str, Any] = {"manifest_version": doc.get("x-tinkex-manifest-version", 1),
                                "api": api}
    for section, ext in ROOT_SECTIONS.items():
        if ext in doc:
            manifest[section] = copy.deepcopy(doc[ext])
    schemas = imp.components.get("schemas") or {}
    for name, s in schemas.items():
        imp.types[name] = imp.schemas.convert(s, ("components", "schemas", name))
    operations = []
    for path, item in (doc.get("paths") or {}).items():
        item = item or {}
        if "$ref" in item:
            imp.warn(("paths", path, "$ref"), "a path item $ref is not carried")
        for method, op in item.items():
            if method in HTTP_METHODS and isinstance(op, dict):
                operations.append(imp.operation(path, method, op, item))
            elif method not in ("parameters", "summary", "description", "$ref") \
                    and not method.startswith("x-"):
                imp.warn(("paths", path, method), f"path item key {method!r} is not carried")
    manifest["types"] = imp.types
    manifest["operations"] = operations
    _auth(manifest, doc)
    _fill_skeleton(manifest)
    _defaults_out(manifest, doc)
    _leftovers(imp, doc)
    return ImportResult(_order(manifest), sorted(set(imp.warnings)))


def _auth(manifest: dict[str, Any], doc: dict[str, Any]) -> None:
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    auth = manifest.get("auth")
    legacy = auth is not None and "header" in auth and schemes == {
        "apiKey": {"type": "apiKey", "in": "header", "name": auth["header"]}}
    if legacy:
        return
    auth = manifest.setdefault("auth", {})
    if schemes:
        auth["schemes"] = copy.deepcopy(schemes)
    if "security" in doc:
        auth["security"] = copy.deepcopy(doc["security"])
    if "env" not in auth and schemes:
        auth["env"] = re.sub(r"[^A-Z0-9_]", "_", manifest["api"]["name"].upper()) + "_API_KEY"


def _defaults_out(manifest: dict[str, Any], doc: dict[str, Any]) -> None:
    """Drop what compile would write anyway, so a tinkex document round-trips exactly."""
    for op in manifest["operations"]:
        others, refs = op.pop("_responses"), op.pop("_response_refs")
        if refs != error_responses(manifest):
            op["responses"] = others
        description = op.pop("_result_description", None)
        if description is not None and description != success_description(op):
            op["result_description"] = description
        if op.get("tags") == [group_tag(manifest, op["sdk"]["group"])]:
            del op["tags"]
    tags = doc.get("tags")
    if tags is not None and tags != root_tags(manifest):
        manifest["tags"] = copy.deepcopy(tags)
    if "externalDocs" in doc:
        manifest["externalDocs"] = copy.deepcopy(doc["externalDocs"])
    manifest.update(_extensions(doc))


def _leftovers(imp: _Importer, doc: dict[str, Any]) -> None:
    for key in doc:
        if key not in _ROOT_KEYS and not key.startswith("x-"):
            imp.warn((key,), f"root key {key!r} is not carried")
    if doc.get("webhooks"):
        imp.warn(("webhooks",), f"{len(doc['webhooks'])} webhook(s) are not carried: a "
                                "manifest describes calls the client makes")
    if "jsonSchemaDialect" in doc:
        imp.warn(("jsonSchemaDialect",), "jsonSchemaDialect is not carried (2020-12 is assumed)")
    for kind, items in (doc.get("components") or {}).items():
        if kind in ("schemas", "securitySchemes", "parameters", "requestBodies", "responses"):
            continue
        if kind.startswith("x-"):
            imp.warn(("components", kind), "component extensions are not carried")
        elif items:
            imp.warn(("components", kind), f"components/{kind} ({len(items)}) are not carried"
                                           " (references to them are reported where they are)")


def _fill_skeleton(manifest: dict[str, Any]) -> None:
    """Give a foreign document the sections a manifest requires, with safe defaults."""
    manifest.setdefault("defaults", {"pool": "default", "retry": "standard",
                                     "timeout": {"connect": 5, "read": 60}})
    manifest.setdefault("pools", {"default": {"connections": 10}})
    manifest.setdefault("retry_policies", {"standard": {
        "max_attempts": 3, "statuses": [408, 429, "5XX"], "connection_errors": True,
        "backoff": {"initial": 0.5, "multiplier": 2, "max": 8, "jitter": 0.25}}})
    manifest.setdefault("errors", {"map": [
        {"status": 400, "exception": "BadRequestError"},
        {"status": 401, "exception": "AuthenticationError"},
        {"status": 403, "exception": "PermissionDeniedError"},
        {"status": 404, "exception": "NotFoundError"},
        {"status": 409, "exception": "ConflictError"},
        {"status": 422, "exception": "UnprocessableEntityError"},
        {"status": 429, "exception": "RateLimitError"},
        {"status": "5XX", "exception": "InternalServerError"}]})
    if "sdk" not in manifest:
        groups: dict[str, Any] = {}
        for op in manifest["operations"]:
            tag = (op.get("tags") or ["default"])[0]
            group = op["sdk"]["group"]
            if group not in groups:
                groups[group] = {"class_name": _pascal(group) + "API"}
                if tag != group:
                    groups[group]["tag"] = tag
        _unique_methods(manifest["operations"])
        manifest["sdk"] = {"client_class": _pascal(manifest["api"]["name"]) + "Client",
                           "groups": groups or {"default": {"class_name": "DefaultAPI"}}}


def _unique_methods(operations: list[dict[str, Any]]) -> None:
    """Two operations whose ids snake to one method name get ``_2``, ``_3`` ..."""
    seen: set[tuple[str, str]] = set()
    for op in operations:
        group, method = op["sdk"]["group"], op["sdk"]["method"]
        name, n = method, 2
        while (group, name) in seen:
            name, n = f"{method}_{n}", n + 1
        seen.add((group, name))
        op["sdk"]["method"] = name


_ORDER = ["manifest_version", "api", "auth", "idempotency", "defaults", "pools", "retry_policies",
          "futures", "session", "telemetry", "dispatch_limits", "rate_limit", "circuit_breakers",
          "tracing", "errors", "sdk", "tags",
          "externalDocs", "types", "operations"]


def _order(manifest: dict[str, Any]) -> dict[str, Any]:
    out = {k: manifest[k] for k in _ORDER if k in manifest}
    out.update((k, v) for k, v in manifest.items() if k not in out)
    return out
