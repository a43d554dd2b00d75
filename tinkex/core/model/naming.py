"""Python names for wire names: parameters, body fields and schema classes.

One rule set, used by the runtime (method signatures), by codegen (stubs and
the model generator's class names) and by the emulator, so a name is never
derived two ways.

Keyword names (the documented collision rule):

1. A wire name becomes lower snake case: every character outside
   ``[0-9A-Za-z_]`` turns into ``_``, camelCase words are split, a leading
   digit gets a ``_`` prefix and a Python keyword a ``_`` suffix
   (``X-Rate-Limit`` -> ``x_rate_limit``, ``petId`` -> ``pet_id``,
   ``ids[]`` -> ``ids__``, ``from`` -> ``from_``).
2. Names are taken in order path, query, header, cookie, then body fields; the
   first keeps the plain name. A later one whose name is taken, or that is one
   of the per-call options (``timeout``, ``idempotency_key`` ...), gets its
   location as a suffix (``username_body``, ``timeout_query``), then ``_2``,
   ``_3`` ... if even that is taken.

The wire name always stays the one of the document.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping

CALL_OPTIONS = (
    ("timeout", "float | tuple[float, float] | None"),
    ("max_retries", "int | None"),
    ("idempotency_key", "str | None"),
    ("extra_headers", "Mapping[str, str] | None"),
    ("extra_query", "Mapping[str, object] | None"),
    ("extra_body", "Mapping[str, object] | None"),
)
"""Per-call options every method accepts, after the operation's own parameters."""

CALL_OPTION_NAMES = frozenset(name for name, _ in CALL_OPTIONS)
LOCATION_ORDER = ("path", "query", "header", "cookie", "body", "payload")

_NOT_IDENT = re.compile(r"[^0-9A-Za-z_]")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD = re.compile(r"[0-9A-Za-z]+")
_CLASS = re.compile(r"[A-Z][A-Za-z0-9]*")


def python_name(name: str) -> str:
    """Keyword name for a wire name (``X-Foo-Bar`` -> ``x_foo_bar``)."""
    out = _CAMEL.sub(r"\1_\2", _NOT_IDENT.sub("_", name)).lower() or "_"
    if out[:1].isdigit():
        out = "_" + out
    return out + "_" if keyword.iskeyword(out) or out in ("self",) else out


def keyword_names(params: Iterable[tuple[str, str]]) -> list[str]:
    """Unique keyword names for ``(location, wire_name)`` pairs, by the collision rule above.

    The result is in the order of ``params``; the rule itself ranks by location.
    """
    items = list(params)
    order = sorted(range(len(items)), key=lambda i: (LOCATION_ORDER.index(items[i][0])
                                                     if items[i][0] in LOCATION_ORDER else 9, i))
    taken: set[str] = set(CALL_OPTION_NAMES)
    names: dict[int, str] = {}
    for i in order:
        location, wire = items[i]
        name = python_name(wire)
        if name in taken:
            name = f"{name}_{location}"
            base, n = name, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names[i] = name
    return [names[i] for i in range(len(items))]


def class_name(schema_name: str) -> str:
    """A class name for a schema name: its words capitalised and joined (``pet-tag`` -> ``PetTag``).

    A name that already is one (capitalised, letters and digits) is kept as it is; the
    model generator would drop underscores too, so ``List_Pet_`` becomes ``ListPet``.
    """
    if _CLASS.fullmatch(schema_name):
        return schema_name
    words = _WORD.findall(schema_name)
    out = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    return "Model" + out if out[:1].isdigit() else out


def class_names(schema_names: Iterable[str]) -> dict[str, str]:
    """Unique class names for a document's schemas: ``class_name``, then ``_2``, ``_3`` on a clash.

    Names that need no change are placed first, so a later odd spelling never
    takes a plain name away from the schema that has it.
    """
    names = list(schema_names)
    out: dict[str, str] = {}
    taken: set[str] = set()
    for plain in (True, False):
        for schema in names:
            if (class_name(schema) == schema) != plain:
                continue
            base = class_name(schema)
            name, n = base, 2
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
            out[schema] = name
    return {schema: out[schema] for schema in names}


def schema_of_class(mapping: Mapping[str, str]) -> dict[str, str]:
    """The inverse of :func:`class_names`."""
    return {cls: schema for schema, cls in mapping.items()}
