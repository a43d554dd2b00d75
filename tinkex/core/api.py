"""Build the low-level API classes from the operation table, the way botocore builds clients.

One class per SDK group (``x-tinkex-sdk-groups``), with one keyword-only method
per operation and an ``iter_<method>`` for paginated ones, and a client class
with a read-only property per group. The classes, names, parameters, defaults,
annotations and docstrings come from :func:`tinkex.core.model.signatures.api_shape`,
the description ``tinkex/codegen/stubs.py`` writes the ``.pyi`` stub from, so the
stub describes exactly what exists at run time (a test runs ``mypy.stubtest``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from .engine import Engine
from .model.document import Source
from .model.naming import CALL_OPTIONS
from .model.operations import OperationTable, load_table
from .model.signatures import VIEWS, Annotations, ApiClass, Method, Property, api_shape
from .options import split_options
from .pagination import iter_items

__all__ = ["CALL_OPTIONS", "VIEWS", "Annotations", "api_classes", "build_api",
           "model_class_names"]

_KW = inspect.Parameter.KEYWORD_ONLY
_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _method(spec: Method, class_name: str) -> Callable[..., Any]:
    op, engine_method = spec.operation, spec.engine_method
    if spec.iterate:
        def method(self: Any, **kwargs: Any) -> Any:
            return iter_items(self._engine, op, kwargs)
    else:
        op_id = op.id

        def method(self: Any, **kwargs: Any) -> Any:
            # The per-call options become one RequestOptions (the shared default when none).
            return getattr(self._engine, engine_method)(op_id, split_options(kwargs), **kwargs)
    params = [_SELF] + [
        inspect.Parameter(p.name, _KW, annotation=p.annotation,
                          default=inspect.Parameter.empty if p.required else p.default)
        for p in spec.params]
    method.__name__ = spec.name
    method.__qualname__ = f"{class_name}.{spec.name}"
    method.__doc__ = spec.doc
    method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        params, return_annotation=spec.returns)
    return method


def _init(class_name: str, members: Mapping[str, type]) -> Callable[..., None]:
    def __init__(self: Any, engine: Engine) -> None:
        self._engine = engine
        self._members = {name: cls(engine) for name, cls in members.items()}
    __init__.__qualname__ = f"{class_name}.__init__"
    return __init__


def _property(spec: Property, owner: str, cls: type) -> property:
    """A member made in ``__init__``, or (``member=False``) a view made on each access."""
    name = spec.name
    if spec.member:
        def get(self: Any) -> Any:
            return self._members[name]
    else:
        def get(self: Any) -> Any:
            return cls(self._engine)
    get.__name__ = name
    get.__qualname__ = f"{owner}.{name}"
    get.__annotations__ = {"return": spec.returns}
    return property(get)


def _build(shape: ApiClass, classes: Mapping[str, type], module: str) -> type:
    members = {p.name: classes[p.returns] for p in shape.properties if p.member}
    namespace: dict[str, Any] = {"__slots__": ("_engine", "_members"), "__module__": module,
                                 "__doc__": shape.doc, "__init__": _init(shape.name, members)}
    for prop in shape.properties:
        namespace[prop.name] = _property(prop, shape.name, classes[prop.returns])
    for spec in shape.methods:
        namespace[spec.name] = _method(spec, shape.name)
    return type(shape.name, (), namespace)


def model_class_names(models: ModuleType | Mapping[str, Any]) -> frozenset[str]:
    """Names of the classes a generated models module (or name -> class mapping) defines."""
    if isinstance(models, ModuleType):
        return frozenset(name for name, obj in vars(models).items()
                         if isinstance(obj, type) and obj.__module__ == models.__name__)
    return frozenset(name for name, obj in models.items() if isinstance(obj, type))


def api_classes(source: OperationTable | Source, *,
                models: ModuleType | Mapping[str, Any] | None = None,
                module: str = __name__) -> dict[str, type]:
    """Every class of the low-level API by name: the group classes, then the client class.

    ``models`` (the generated models) decides which schemas annotations name;
    without it every schema is assumed to have a class. ``module`` becomes the
    classes' ``__module__``: the module that exposes them (and that the stub describes).
    """
    table = load_table(source)
    names = model_class_names(models) if models is not None else None
    classes: dict[str, type] = {}
    for shape in api_shape(table, names):
        classes[shape.name] = _build(shape, classes, module)
    return classes


def build_api(source: OperationTable | Source, *,
              models: ModuleType | Mapping[str, Any] | None = None,
              module: str = __name__) -> type:
    """The client class of the low-level API: ``Client(engine).<group>.<method>(**kwargs)``."""
    table = load_table(source)
    return api_classes(table, models=models, module=module)[table.client_class]
