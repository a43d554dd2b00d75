"""Check a loaded manifest: structure (JSON Schema) first, then cross references.

Every problem is collected (not just the first) and reported with its file,
line and key path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema

from tinkex.core.model.document import check_references as document_references

from .compile import compile_manifest
from .errors import ManifestError, ManifestProblem
from .located import locate_problem
from .manifest_schema import ANNOTATION_KEYWORDS, MANIFEST
from .yamlsource import Located

_VALIDATOR = jsonschema.Draft202012Validator(MANIFEST)
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")


def _describe(error: jsonschema.ValidationError) -> tuple[tuple[object, ...], str]:
    """Turn a jsonschema error into (path, human message)."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            hint = ", ".join(sorted(allowed))
            return path + (extra[0],), f"unknown key {extra[0]!r} (allowed: {hint})"
    if "propertyNames" in error.schema_path:
        # the offending key is the instance itself; point at its own line
        key = error.instance
        return path + (key,), f"unknown key {key!r} here"
    if error.validator == "required":
        return path, error.message.replace("is a required property", "is required")
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return tuple(best.absolute_path) or path, f"invalid value: {best.message}"
    if error.validator == "pattern":
        return path, f"{error.instance!r} is not valid here (must match {error.validator_value})"
    return path, error.message


def check_structure(src: Located) -> list[ManifestProblem]:
    problems = []
    for error in _VALIDATOR.iter_errors(src.data):
        path, message = _describe(error)
        problems.append(src.problem(path, message))
    return problems


def _walk_refs(schema: Any, path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield path + (key,), value
            elif key == "discriminator" and isinstance(value, dict):
                for tag, target in (value.get("mapping") or {}).items():
                    yield path + (key, "mapping", tag), target
            elif key in ("properties", "patternProperties", "dependentSchemas") \
                    and isinstance(value, dict):
                for name, sub in value.items():
                    yield from _walk_refs(sub, path + (key, name))
            elif key not in ANNOTATION_KEYWORDS and not key.startswith("x-"):
                yield from _walk_refs(value, path + (key,))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            yield from _walk_refs(item, path + (i,))


_DIRECT = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else")
"""Keywords whose subschemas describe the same value: a $ref under them is no step into a
property or an item."""


def _direct_refs(schema: Any, path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    """The $refs a schema is made of (itself or its compositions), not those of its parts."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        yield path + ("$ref",), ref
    for key in _DIRECT:
        sub = schema.get(key)
        for i, item in enumerate(sub if isinstance(sub, list) else [sub]):
            yield from _direct_refs(item, path + ((key, i) if isinstance(sub, list) else (key,)))


def check_ref_cycles(src: Located, types: dict[str, Any]) -> list[ManifestProblem]:
    """A type that is (through $ref and compositions only) itself never describes a value."""
    edges = {name: list(_direct_refs(schema, ("types", name))) for name, schema in types.items()}
    out: list[ManifestProblem] = []
    reported: set[frozenset[str]] = set()
    for start in types:
        stack: list[tuple[str, list[str], tuple[object, ...]]] = [(start, [start], ())]
        while stack:
            name, trail, first = stack.pop()
            for path, ref in edges.get(name, []):
                where = first or path
                if ref == start:
                    cycle = frozenset(trail)
                    if cycle not in reported:
                        reported.add(cycle)
                        loop = " -> ".join([*trail, start])
                        out.append(src.problem(where, f"$ref cycle {loop}: the type never "
                                                      "describes a value (a recursive type "
                                                      "must recurse through properties or "
                                                      "items)"))
                elif ref in edges and ref not in trail:
                    stack.append((ref, [*trail, ref], where))
    return out


class _References:
    """Collects the reference problems of one manifest (``out``), located in ``src``."""

    def __init__(self, src: Located) -> None:
        self.src = src
        self.types: dict[str, Any] = src.data.get("types") or {}
        self.auth: dict[str, Any] = src.data.get("auth") or {}
        self.schemes: dict[str, Any] | None = self.auth.get("schemes")
        self.out: list[ManifestProblem] = []

    def problem(self, path: tuple[object, ...], message: str) -> None:
        self.out.append(self.src.problem(path, message))

    def need(self, kind: str, table: Any, name: Any, path: tuple[object, ...]) -> None:
        """A problem unless ``name`` (when given) is one of ``table``'s keys."""
        if name is not None and name not in table:
            known = ", ".join(sorted(map(str, table))) or "none defined"
            self.problem(path, f"unknown {kind} {name!r} (known: {known})")

    def need_type(self, name: Any, path: tuple[object, ...]) -> None:
        self.need("type", self.types, name, path)


def check_references(src: Located) -> list[ManifestProblem]:
    """The references of types, parameters, routes and bodies, located in the manifest.

    The rest are the compiled document's own (see :func:`check_manifest`).
    """
    refs = _References(src)
    _check_types_and_auth(refs)
    _check_error_map(refs, src.data.get("errors") or {})
    first_route: dict[tuple[Any, str], int] = {}
    for i, op in enumerate(src.data.get("operations") or []):
        if isinstance(op, dict):
            _check_operation(refs, i, op, first_route)
    return refs.out


def _check_types_and_auth(refs: _References) -> None:
    """Type references and cycles; security schemes named by ``auth.security``.

    A required name outside properties, a discriminator on an allOf parent or an
    anyOf are legal JSON Schema / OpenAPI, so they are not refused.
    """
    for tname, schema in refs.types.items():
        for path, ref in _walk_refs(schema, ("types", tname)):
            refs.need_type(ref, path)
    refs.out += check_ref_cycles(refs.src, refs.types)
    auth = refs.auth
    if refs.schemes is None and not auth.get("header") and auth.get("security"):
        refs.problem(("auth", "security"), "security needs auth.schemes")
    for j, requirement in enumerate(auth.get("security") or []):
        for name in requirement if isinstance(requirement, dict) else ():
            refs.need("security scheme", refs.schemes or {}, name, ("auth", "security", j, name))


def _check_error_map(refs: _References, errors: dict[str, Any]) -> None:
    """No status mapped twice."""
    seen_status: dict[Any, int] = {}
    for i, entry in enumerate(errors.get("map") or []):
        status = entry.get("status") if isinstance(entry, dict) else None
        if status in seen_status:
            refs.problem(("errors", "map", i, "status"), f"status {status} is mapped twice "
                         f"(also errors.map[{seen_status[status]}])")
        seen_status.setdefault(status, i)


def _check_operation(refs: _References, i: int, op: dict[str, Any],
                     first_route: dict[tuple[Any, str], int]) -> None:
    """Operation ``i``: its route is new, its references exist and its parts fit together."""
    base = ("operations", i)
    op_path = str(op.get("path") or "")
    # Two templates that differ only in placeholder names are the same route.
    route = (op.get("method"), _PLACEHOLDER.sub("{}", op_path))
    if route in first_route:
        refs.problem(base + ("path",), f"duplicate route {op.get('method')} {op_path} "
                     f"(first at operations[{first_route[route]}])")
    first_route.setdefault(route, i)
    _check_operation_types(refs, base, op)
    _check_operation_shape(refs, base, op)
    params = _check_parameters(refs, base, op, op_path)
    _check_sequence_and_pages(refs, base, op, params)


def _check_operation_types(refs: _References, base: tuple[object, ...],
                           op: dict[str, Any]) -> None:
    """Body, result, media and response types and the security schemes exist."""
    refs.need_type(op.get("body"), base + ("body",))
    refs.need_type(op.get("result"), base + ("result",))
    media = op.get("media") or {}
    for media_key in ("schemas", "response_schemas"):
        for mtype, tref in (media.get(media_key) or {}).items():
            refs.need_type(tref, base + ("media", media_key, mtype))
    for code, resp in (op.get("responses") or {}).items():
        if isinstance(resp, dict):
            refs.need_type(resp.get("type"), base + ("responses", code, "type"))
    success = str(op.get("result_status") or "200")
    if success in (op.get("responses") or {}):
        refs.problem(base + ("responses", success),
                     "the success status is described by result, not responses")
    schemes = refs.schemes or ({"apiKey": 1} if refs.auth.get("header") else {})
    for j, requirement in enumerate(op.get("security") or []):
        for scheme_name in requirement if isinstance(requirement, dict) else ():
            refs.need("security scheme", schemes, scheme_name, base + ("security", j, scheme_name))


def _check_operation_shape(refs: _References, base: tuple[object, ...],
                           op: dict[str, Any]) -> None:
    """Streaming, body encodings and methods that combine."""
    stream = op.get("stream") or {}
    for clash in ("result", "future", "pagination"):
        if stream and op.get(clash):
            refs.problem(base + ("stream",), f"a streaming operation cannot also have {clash}")
    body_encoding = op.get("body_encoding") or {}
    encoding = body_encoding.get("type")
    if encoding == "multipart" and not op.get("body"):
        refs.problem(base + ("body_encoding",), "a multipart body needs a body type")
    if encoding == "raw" and op.get("body"):
        refs.problem(base + ("body",), "a raw body has no body type")
    if encoding != "raw" and body_encoding.get("media"):
        refs.problem(base + ("body_encoding", "media"), "media is for raw bodies only")
    if encoding and (op.get("media") or op.get("sequence")):
        refs.problem(base + ("body_encoding",), "a multipart or raw body cannot "
                     "have alternate media or sequencing")
    if op.get("method") in ("GET", "HEAD") and (op.get("body") or encoding):
        refs.problem(base + ("body",), f"a {op.get('method')} operation cannot have a body")


def _check_parameters(refs: _References, base: tuple[object, ...], op: dict[str, Any],
                      op_path: str) -> list[dict[str, Any]]:
    """Parameters are unique, path parameters match the placeholders; returns the parameters."""
    placeholders = _PLACEHOLDER.findall(op_path)
    params = [p for p in op.get("params") or [] if isinstance(p, dict)]
    names_in: dict[tuple[Any, Any], int] = {}
    for j, p in enumerate(params):
        where = base + ("params", j)
        key = (p.get("in"), p.get("name"))
        if key in names_in:
            refs.problem(where + ("name",), f"duplicate {p.get('in')} parameter {p.get('name')!r}")
        names_in[key] = j
        if p.get("in") == "path":
            if p.get("name") not in placeholders:
                refs.problem(where + ("name",),
                             f"path parameter {p.get('name')!r} is not in {op_path}")
            if p.get("required") is False:
                refs.problem(where + ("required",), "path parameters are always required")
        for rpath, ref in _walk_refs(p.get("schema"), where + ("schema",)):
            refs.need_type(ref, rpath)
    for name in placeholders:
        if ("path", name) not in names_in:
            refs.problem(base + ("path",), f"path placeholder {{{name}}} has no path parameter")
    return params


def _check_sequence_and_pages(refs: _References, base: tuple[object, ...], op: dict[str, Any],
                              params: list[dict[str, Any]]) -> None:
    """The sequence and pagination fields name fields and parameters that exist."""
    body_props = _props(refs.types, op.get("body"))
    seq = op.get("sequence") or {}
    if seq and body_props is not None:
        for k in ("field", "scope"):
            if seq.get(k) not in body_props:
                refs.problem(base + ("sequence", k),
                             f"{seq.get(k)!r} is not a field of {op.get('body')}")
    if seq and not op.get("body"):
        refs.problem(base + ("sequence",), "sequencing needs a body type")
    pag = op.get("pagination") or {}
    if not pag:
        return
    query = {p.get("name") for p in params if p.get("in") == "query"}
    for k in ("offset", "limit"):
        if pag.get(k) not in query and pag.get(k) not in (body_props or {}):
            refs.problem(base + ("pagination", k), f"{pag.get(k)!r} is not a parameter of "
                         f"{op.get('id')}")
    result_props = _props(refs.types, op.get("result"))
    head = str(pag.get("items", "")).split(".")[0]
    if result_props is not None and head not in result_props:
        refs.problem(base + ("pagination", "items"),
                     f"{head!r} is not a field of {op.get('result')}")


def _props(types: dict[str, Any], name: Any) -> dict[str, Any] | None:
    schema = types.get(name) if isinstance(name, str) else None
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else None


def check_manifest(src: Located) -> None:
    """Raise ManifestError listing every problem of ``src``; return quietly if it is sound.

    The structure first, then the references only the manifest can check
    (types, parameters, routes), then, on the compiled document, the references
    every document must satisfy (:func:`tinkex.core.model.document.check_references`,
    the runtime's own rules), each located at the manifest key it came from.
    """
    problems = check_structure(src)
    if not problems:
        problems = check_references(src)
    if not problems:
        doc = compile_manifest(src.data)
        problems = [locate_problem(src, doc, p) for p in document_references(doc)]
    if problems:
        raise ManifestError(problems)
