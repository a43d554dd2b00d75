"""OpenAPI schemas (3.0 or 3.1) -> manifest types (JSON Schema 2020-12 with ``$ref: Name``).

What 3.0 says differently is rewritten to its 3.1 meaning: ``nullable`` (on a
type, an enum, a ``$ref`` or a composition), boolean ``exclusiveMinimum`` /
``exclusiveMaximum``, a ``$ref`` with siblings. What a manifest cannot carry
(a keyword that is no JSON Schema keyword, a ``$ref`` outside
``components/schemas``) is left out and reported through ``warn``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tinkex.core.model.document import SCHEMA_PREFIX

from .manifest_schema import ANNOTATION_KEYWORDS, TYPE_KEYWORDS

Pointer = tuple[object, ...]
Warn = Callable[[Pointer, str], None]

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA = ("items", "not", "if", "then", "else", "contains", "additionalProperties",
              "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema")


def ref_name(ref: Any) -> str | None:
    """The schema name of a ``#/components/schemas/<name>`` reference (bare names too)."""
    if not isinstance(ref, str):
        return None
    if ref.startswith(SCHEMA_PREFIX):
        name = ref[len(SCHEMA_PREFIX):]
        return None if "/" in name else name.replace("~1", "/").replace("~0", "~")
    return ref if "/" not in ref and "#" not in ref else None


class SchemaImporter:
    """Converts schemas, reporting every left-out construct at its JSON pointer."""

    def __init__(self, warn: Warn) -> None:
        self.warn = warn

    def convert(self, schema: Any, at: Pointer) -> Any:
        if isinstance(schema, bool):
            return {} if schema else {"not": {}}
        if not isinstance(schema, dict):
            self.warn(at, f"a schema must be an object, not {type(schema).__name__}: "
                          "left out (any value is accepted)")
            return {}
        out: dict[str, Any] = {}
        for key, value in schema.items():
            where = at + (key,)
            if key == "$ref":
                name = ref_name(value)
                if name is None:
                    self.warn(where, f"$ref {value!r} is not carried: a manifest refers only to "
                                     "component schemas (any value is accepted instead)")
                else:
                    out["$ref"] = name
            elif key == "nullable" or key in ("exclusiveMinimum", "exclusiveMaximum") \
                    and isinstance(value, bool):
                continue  # rewritten below
            elif key == "discriminator" and isinstance(value, dict):
                out[key] = self._discriminator(value, where)
            elif key.startswith("x-") or key in ANNOTATION_KEYWORDS or key == "$comment":
                out[key] = copy.deepcopy(value)
            elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: self.convert(v, where + (k,)) for k, v in value.items()}
            elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.convert(v, where + (i,)) for i, v in enumerate(value)]
            elif key in _SUBSCHEMA:
                out[key] = value if isinstance(value, bool) and key != "items" \
                    else self.convert(value, where)
            elif key == "items" and isinstance(value, list):  # draft-04 tuple form
                out["prefixItems"] = [self.convert(v, where + (i,)) for i, v in enumerate(value)]
            elif key == "required" and isinstance(value, list) \
                    and len(set(map(str, value))) < len(value):
                self.warn(where, "names listed twice: listed once")
                out[key] = list(dict.fromkeys(value))
            elif key in TYPE_KEYWORDS:
                out[key] = copy.deepcopy(value)
            else:
                self.warn(where, f"{key!r} is not a JSON Schema keyword: left out")
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if schema.get(bound) is True and limit in out:
                out[bound] = out.pop(limit)
        if schema.get("nullable") is True:
            out = _nullable(out)
        if "default" in out and not _fits(out["default"], out):
            self.warn(at + ("default",), f"default {out['default']!r} does not fit the schema: "
                                         "left out")
            del out["default"]
        return out

    def _discriminator(self, value: dict[str, Any], at: Pointer) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "mapping" and isinstance(item, dict):
                mapping = {}
                for tag, target in item.items():
                    name = ref_name(target)
                    if name is None:
                        self.warn(at + (key, tag), f"mapping target {target!r} is not a "
                                                   "component schema: left out")
                    else:
                        mapping[str(tag)] = name
                out[key] = mapping
            elif key == "propertyName" or key.startswith("x-"):
                out[key] = copy.deepcopy(item)
            else:
                self.warn(at + (key,), f"{key!r} is not a discriminator key: left out")
        return out


_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
               "array": (list,), "object": (dict,), "null": (type(None),)}


def _allows_null(schema: Any) -> bool:
    """Whether a schema visibly admits null (its type, enum, const or one of its variants)."""
    if not isinstance(schema, dict):
        return schema is True
    kind = schema.get("type")
    if kind == "null" or isinstance(kind, list) and "null" in kind:
        return True
    if None in (schema.get("enum") or ()) or ("const" in schema and schema["const"] is None):
        return True
    return any(_allows_null(v) for k in ("anyOf", "oneOf") for v in schema.get(k) or ())


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` passes the schema's own ``type``, ``enum`` and ``const`` (cheap check);
    null only where the schema visibly admits it."""
    if value is None:
        return _allows_null(schema)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        ok = False
        for kind in kinds:
            py = _JSON_TYPES.get(kind, (object,))
            if isinstance(value, py) and not (isinstance(value, bool) and bool not in py):
                ok = ok or kind != "integer" or float(value).is_integer()  # type: ignore[arg-type]
        if not ok:
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    return "const" not in schema or value == schema["const"]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """3.0's ``nullable: true`` in 3.1 terms: null joins the type, the enum, or a union."""
    kind = schema.get("type")
    if "$ref" in schema or "allOf" in schema or "oneOf" in schema or "anyOf" in schema \
            or (kind is None and "enum" not in schema):
        if kind is None and not any(k in schema for k in ("$ref", "allOf", "oneOf", "anyOf")):
            return schema  # no type at all: null is already allowed
        annotations: dict[str, Any] = {k: schema[k] for k in ("description", "title", "default", "deprecated",
                                              "example", "examples", "readOnly", "writeOnly")
                       if k in schema}
        inner = {k: v for k, v in schema.items() if k not in annotations}
        if list(inner) == ["anyOf"]:
            variants = inner["anyOf"]
        elif list(inner) == ["oneOf"] and not any(map(_allows_null, inner["oneOf"])):
            return {**annotations, "oneOf": [*inner["oneOf"], {"type": "null"}]}
        else:
            variants = [inner]
        return {**annotations, "anyOf": [*variants, {"type": "null"}]}
    out = dict(schema)
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out
