"""Per-call options as one immutable value, and the "not given" sentinel.

:class:`RequestOptions` carries everything about *how* one call is made (its
timeout, retries, idempotency key, the caller's extra headers / query / body
fields and a body encoder), separate from *what* it sends (the operation's
arguments). It is built once per call, or not at all: a call without options
shares :data:`DEFAULT_OPTIONS`, so the hot path allocates nothing for them.

:data:`NOT_GIVEN` (of class :class:`NotGiven`) is the default of every optional
parameter of the low-level API: "the caller said nothing", distinct from an
explicit None. The engine leaves a NOT_GIVEN value out of the request (a
manifest default, if the parameter has one, is sent instead). An explicit None:

- for a body field whose schema allows null, is sent as ``null`` (e.g.
  ``ttl_seconds=None`` for "never expires");
- for any other parameter (a body field that may not be null, a path, query,
  header or cookie parameter, none of which can carry a null), is treated as
  not given, as before the sentinel existed, so code written for the official
  SDK that passes None for "no value" keeps working.

:data:`omit` (of class :class:`Omit`) removes a header the engine would send by
default: ``extra_headers={"Accept": omit}``; it is the same as giving the
header as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar, Union

from .model.naming import CALL_OPTION_NAMES

if TYPE_CHECKING:
    from .engine import EncodedBody
    from .transport import Timeout

__all__ = ["DEFAULT_OPTIONS", "NOT_GIVEN", "NotGiven", "NotGivenOr", "Omit", "RequestOptions",
           "OPTION_NAMES", "given", "is_given", "omit", "split_options"]

_T = TypeVar("_T")


class _Sentinel:
    """A falsy singleton that repr()s and unpickles as the module-level name ``_name``."""

    _name = ""
    _instance: _Sentinel | None = None

    def __new__(cls) -> Any:  # the one instance of the subclass
        if cls.__dict__.get("_instance") is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name  # unpickles to the module's singleton


class NotGiven(_Sentinel):
    """The type of :data:`NOT_GIVEN`: an argument the caller did not pass (falsy, a singleton)."""

    _name = "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""The default of every optional parameter: left out of the request (see the module doc)."""

NotGivenOr: TypeAlias = Union[_T, NotGiven]  # noqa: UP007 (a generic alias needs Union)
"""``NotGivenOr[int]`` is ``int | NotGiven``."""


class Omit(_Sentinel):
    """The type of :data:`omit`: removes a header the engine sends by default (falsy)."""

    _name = "omit"


omit: Final = Omit()
"""``extra_headers={"Accept": omit}``: that header is not sent."""


def given(value: _T | None) -> _T | NotGiven:
    """``value``, or NOT_GIVEN for None: for callers whose None means "no value"
    (the official SDK's domain methods), so that nothing is sent rather than a null."""
    return NOT_GIVEN if value is None else value


def is_given(value: _T | NotGiven) -> bool:
    """Whether ``value`` is anything but :data:`NOT_GIVEN` (None counts as given)."""
    return value is not NOT_GIVEN


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """How one call is made; None everywhere means the operation's (or the client's) default.

    ``timeout``: seconds for the whole attempt, ``(connect, read)``, or a
    :class:`~tinkex.core.transport.Timeout`. ``max_retries``: retries after the
    first attempt (the operation's retry policy otherwise). ``retry=False``
    makes exactly one attempt. ``idempotency_key``: the key sent with the
    request (one per logical request otherwise, for idempotent operations).
    ``extra_headers`` (a value of None or :data:`omit` removes that header),
    ``extra_query`` and ``extra_body`` are added to what the arguments make.
    ``encode_body`` sends the body in another encoding (see
    :data:`tinkex.core.engine.BodyEncoder`).
    """

    timeout: float | tuple[float, float] | Timeout | None = None
    max_retries: int | None = None
    idempotency_key: str | None = None
    extra_headers: Mapping[str, str | None | Omit] | None = None
    extra_query: Mapping[str, object] | None = None
    extra_body: Mapping[str, object] | None = None
    encode_body: Callable[[dict[str, Any]], EncodedBody] | None = None
    retry: bool = True

    @classmethod
    def of(cls, **options: Any) -> RequestOptions:
        """The options for these keywords (NOT_GIVEN or None: the default); unknown ones raise."""
        given = {k: v for k, v in options.items() if v is not None and v is not NOT_GIVEN}
        if not given:
            return DEFAULT_OPTIONS
        try:
            return cls(**given)
        except TypeError:
            unknown = sorted(set(given) - set(cls.__dataclass_fields__))
            raise TypeError(f"unknown request option(s): {', '.join(unknown)}") from None

    def merged(self, **changes: Any) -> RequestOptions:
        """A copy with ``changes`` (a change of None or NOT_GIVEN keeps the current value)."""
        given = {k: v for k, v in changes.items() if v is not None and v is not NOT_GIVEN}
        return replace(self, **given) if given else self

    def __repr__(self) -> str:
        # Header values may hold credentials; the names are enough to tell calls apart.
        parts = [f"{name}={value!r}" for name in ("timeout", "max_retries", "idempotency_key")
                 if (value := getattr(self, name)) is not None]
        for name in ("extra_headers", "extra_query", "extra_body"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}=<{', '.join(map(str, value))}>")
        if self.encode_body is not None:
            parts.append(f"encode_body={getattr(self.encode_body, '__name__', 'encoder')}")
        if not self.retry:
            parts.append("retry=False")
        return f"RequestOptions({', '.join(parts)})"


DEFAULT_OPTIONS: Final = RequestOptions()
"""The options of a call that gives none: shared, never copied."""

OPTION_NAMES: Final = CALL_OPTION_NAMES
"""The per-call options the low-level API's methods take as keywords (``naming.CALL_OPTIONS``)."""


def split_options(kwargs: dict[str, Any]) -> RequestOptions:
    """Take the per-call options out of a method's keyword arguments (``kwargs`` is changed).

    Most calls give none: then nothing is built and :data:`DEFAULT_OPTIONS` is returned.
    """
    if OPTION_NAMES.isdisjoint(kwargs):
        return DEFAULT_OPTIONS
    return RequestOptions.of(**{name: kwargs.pop(name) for name in OPTION_NAMES
                                if name in kwargs})
