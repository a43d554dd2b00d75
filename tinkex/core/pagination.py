"""Iterate over every item of every page of an offset/limit operation.

The document's ``x-tinkex-pagination`` names the offset and limit parameters
and dotted paths to the items and (optionally) the total in a page. Paging
stops on an empty page, once the offset reaches the total when there is one,
and otherwise once a page comes back shorter than the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .model.operations import Operation, python_name
from .options import NOT_GIVEN, split_options

if TYPE_CHECKING:
    from .engine import Engine


def value_at(page: Any, dotted: str) -> Any:
    """``page.a.b`` for ``"a.b"``, through model attributes or mapping keys; None when absent."""
    value = page
    for part in dotted.split("."):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return value


def _keyword(operation: Operation, wire_name: str) -> str:
    """The method keyword of a query parameter or body field, by its wire name."""
    for p in operation.params:
        if p.wire_name == wire_name and p.location in ("query", "body"):
            return p.name
    return python_name(wire_name)


def iter_items(engine: Engine, operation: Operation, kwargs: Mapping[str, Any]) -> Iterator[Any]:
    """Call ``operation`` page after page (other arguments unchanged) and yield each item."""
    spec = operation.pagination
    if spec is None:
        raise TypeError(f"{operation.id} is not paginated")
    offset_name, limit_name = _keyword(operation, spec.offset), _keyword(operation, spec.limit)
    declared = {p.name: p.default for p in operation.params}
    args: dict[str, Any] = {k: v for k, v in kwargs.items() if v is not NOT_GIVEN}
    options = split_options(args)
    offset = int(args.pop(offset_name, None) or declared.get(offset_name) or 0)
    limit = args.get(limit_name, declared.get(limit_name))
    while True:
        args[offset_name] = offset
        page = engine.call(operation.id, options, **args)
        items = list(value_at(page, spec.items) or ())
        if not items:
            return
        yield from items
        offset += int(limit) if limit else len(items)
        total = value_at(page, spec.total) if spec.total else None
        if total is not None:
            if offset >= int(total):
                return
        elif limit and len(items) < int(limit):
            return
