"""Every exception the core raises, in one hierarchy.

Callers catch these and nothing else: transport exceptions from requests and
urllib3 are wrapped at the transport boundary, and HTTP error statuses become
:class:`APIStatusError` subclasses chosen by the document's error map.

All of them pickle with their attributes (errors cross process boundaries in
multiprocessing pools and in futures run elsewhere). Most constructors take
keyword-only arguments, which the default ``BaseException`` pickling cannot
rebuild, so :class:`SDKError` pickles its instance dictionary instead.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .transport import Response


def _rebuild(cls: type[SDKError], args: tuple[Any, ...], state: dict[str, Any]) -> SDKError:
    error = cls.__new__(cls, *args)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SDKError(Exception):
    """Root of every error raised by the core (the domain re-exports it under its own name)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class ConfigError(SDKError):
    """The client cannot be configured: missing or malformed credential, bad base URL, ..."""


class InvalidArgumentError(SDKError, ValueError):
    """A call was given a bad argument; raised before anything is sent.

    The message names the call and the parameter or body field (``field``, a
    dotted path such as ``lora_config.rank``) and says what is wrong with the
    value without repeating it when it could be a secret. It is a
    ``ValueError`` too, so ``except ValueError`` keeps catching it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @classmethod
    def from_validation(cls, exc: Any, where: str) -> InvalidArgumentError:
        """One error for a pydantic ``ValidationError``: every failing field path and its problem.

        The input values are left out (an argument may hold a secret); the
        pydantic error is not chained for the same reason.
        """
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{loc}: {error.get('msg', 'invalid')}" if loc
                            else str(error.get("msg", "invalid")))
        first = exc.errors(include_url=False, include_input=False)[0].get("loc", ()) if problems else ()
        field = ".".join(str(part) for part in first) or None
        return cls(f"{where}: {'; '.join(problems) or 'invalid arguments'}", field=field)


@contextlib.contextmanager
def checking_arguments(where: str) -> Iterator[None]:
    """Turn a pydantic ``ValidationError`` raised inside into an :class:`InvalidArgumentError`."""
    import pydantic

    try:
        yield
    except pydantic.ValidationError as exc:
        raise InvalidArgumentError.from_validation(exc, where) from None


class DocumentError(SDKError):
    """The compiled API document is invalid; ``problems`` lists every finding as ``location: what``."""

    def __init__(self, problems: list[str] | tuple[str, ...], source: str = "the API document") -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source} is invalid ({len(self.problems)} problem(s)):\n{lines}")


class ClientClosedError(SDKError):
    """A request was made through a client (or transport) after ``close()``."""


@dataclass(frozen=True)
class RequestInfo:
    """What was asked: the method and the URL without its query string (which may hold secrets)."""

    method: str
    url: str


class APIError(SDKError):
    """A request failed. ``attempts``, ``elapsed`` and ``last_status`` tell how hard we tried."""

    def __init__(self, message: str, request: RequestInfo | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        self.attempts = 1
        self.elapsed = 0.0
        self.last_status: int | None = None

    def record_attempts(self, attempts: int, elapsed: float, last_status: int | None,
                        exhausted: bool) -> None:
        """Note how the retry loop ended; the message says it when more than one attempt was made."""
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_status = last_status
        if attempts > 1 or exhausted:
            plural = "attempt" if attempts == 1 else "attempts"
            status = f"last status {last_status}" if last_status is not None else "no response"
            why = "retries exhausted" if exhausted else "not retryable"
            self.message = (f"{self.message} [{why}: {attempts} {plural} in {elapsed:.2f} s, "
                            f"{status}]")
            self.args = (self.message,)


class APIStatusError(APIError):
    """The server answered with a status outside 2xx."""

    def __init__(self, message: str, *, response: Response | None = None,
                 status_code: int | None = None, body: Any = None,
                 request: RequestInfo | None = None, retryable: bool = False) -> None:
        super().__init__(message, request, body)
        self.response = response
        if status_code is None:
            status_code = response.status if response is not None else 0
        self.status_code = status_code
        self.last_status = status_code
        self.retryable = retryable


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401."""


class BillingError(APIStatusError):
    """HTTP 402."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


class FutureExpiredError(APIStatusError):
    """The server no longer knows a future (410 while polling): submit the request again."""


class APIConnectionError(APIError):
    """No usable HTTP response: refused or reset connection, DNS, TLS, proxy, broken body, bad URL."""

    def __init__(self, message: str = "Connection error.", *,
                 request: RequestInfo | None = None) -> None:
        super().__init__(message, request)


class APITimeoutError(APIConnectionError):
    """Connecting or reading took longer than the timeout."""

    def __init__(self, message: str = "Request timed out.", *,
                 request: RequestInfo | None = None) -> None:
        super().__init__(message, request=request)


class APIResponseValidationError(APIError):
    """A 2xx response whose body is not what the document promises."""

    def __init__(self, message: str, *, response: Response, body: Any = None,
                 request: RequestInfo | None = None) -> None:
        super().__init__(message, request, body)
        self.response = response
        self.status_code = response.status
        self.last_status = response.status


class StreamError(APIError):
    """The server reported a failure in the middle of a streamed answer (an error event)."""


class CircuitOpenError(APIError):
    """Not sent: the circuit breaker of its pool or operation is open after repeated failures.

    ``breaker`` names the breaker (and its pool or operation), ``retry_after`` is
    the number of seconds until it lets a trial call through. Not retried: the
    point of an open breaker is to fail fast while the server recovers.
    """

    def __init__(self, message: str, *, breaker: str, retry_after: float,
                 request: RequestInfo | None = None) -> None:
        super().__init__(message, request)
        self.breaker = breaker
        self.retry_after = retry_after


class ErrorCategory(str, enum.Enum):
    """Whose fault a failed asynchronous request was: one of the document's failure
    categories (``x-tinkex-futures.failure``). Each document's categories are an enum of
    this kind made by :func:`error_categories`; members are named after their value in
    upper case, with the capitalized spelling as an alias (``USER`` and ``User``)."""

    @classmethod
    def parse(cls, value: object) -> ErrorCategory:
        """The category named by ``value`` (any case); the document's default otherwise."""
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls(_CATEGORY_DEFAULTS[cls])

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        values = tuple(m.value for m in type(self))
        return _category_member, (type(self).__name__, values, _CATEGORY_DEFAULTS[type(self)],
                                  self.value)


_CATEGORY_DEFAULTS: dict[type[ErrorCategory], str] = {}
_categories_lock = threading.Lock()


@functools.cache
def _category_enum(name: str, values: tuple[str, ...], default: str) -> type[ErrorCategory]:
    names: dict[str, str] = {}
    for value in values:
        names.setdefault(value.upper(), value)
        names.setdefault(value.capitalize(), value)
    cls = ErrorCategory(name, names, module=__name__, qualname=name)  # type: ignore[call-overload]
    _CATEGORY_DEFAULTS[cls] = default
    return cls  # type: ignore[no-any-return]


def error_categories(values: Iterable[str], default: str | None = None,
                     name: str = "RequestErrorCategory") -> type[ErrorCategory]:
    """The enum of a document's failure categories (``default``: what an unlisted value
    becomes, else the last one), made once per process for equal arguments."""
    values = tuple(dict.fromkeys(str(v).lower() for v in values))
    if not values:
        raise ValueError("a failure category enum needs at least one category")
    fallback = (default or values[-1]).lower()
    if fallback not in values:
        values += (fallback,)
    with _categories_lock:
        return _category_enum(name, values, fallback)


def _category_member(name: str, values: tuple[str, ...], default: str,
                     value: str) -> ErrorCategory:
    """Unpickle a category member: its enum, rebuilt from its values if this process lacks it."""
    return error_categories(values, default, name)(value)


class RequestFailedError(SDKError):
    """An asynchronous request (a future) completed with a failure."""

    def __init__(self, message: str, request_id: str,
                 category: ErrorCategory | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.category = category


STATUS_ERRORS: dict[str, type[APIStatusError]] = {
    cls.__name__: cls
    for cls in (
        APIStatusError, BadRequestError, AuthenticationError, BillingError, PermissionDeniedError,
        NotFoundError, ConflictError, UnprocessableEntityError, RateLimitError,
        InternalServerError, FutureExpiredError,
    )
}
"""The ready-made status classes, by name; a document's error map may name others."""
_status_lock = threading.Lock()


def status_error_problem(name: str) -> str | None:
    """Why a document's error map may not name ``name`` (None: it may)."""
    other = globals().get(name)
    if other is not None and not (isinstance(other, type) and issubclass(other, APIStatusError)):
        return f"{name!r} is not an HTTP status error class of tinkex.core.errors"
    return None


def status_error(name: str) -> type[APIStatusError]:
    """The status class a document's error map names: a ready-made one, else a subclass of
    :class:`APIStatusError` of that name, made once per process and shared by every
    document that names it. It lives in this module, so its errors pickle by reference
    (a process unpickling one must have loaded a document naming it)."""
    with _status_lock:
        cls = STATUS_ERRORS.get(name)
        if cls is None:
            problem = status_error_problem(name)
            if problem is not None:
                raise DocumentError([f"<root>.x-tinkex-errors: {problem}"])
            cls = type(name, (APIStatusError,), {
                "__module__": __name__, "__qualname__": name,
                "__doc__": f"{name}: an HTTP error status, as the API document's error map says."})
            STATUS_ERRORS[name] = cls
            globals()[name] = cls
        return cls


@dataclass(frozen=True)
class ErrorRule:
    """One entry of the document's error map; ``status`` is a code or a class such as ``"5XX"``."""

    status: int | str
    exception: type[APIStatusError]
    retryable: bool

    def matches(self, status: int) -> bool:
        if isinstance(self.status, int):
            return status == self.status
        return str(status)[0] == self.status[0]


@dataclass(frozen=True)
class ErrorMap:
    """Status -> exception class; an exact status wins over a class such as ``5XX``."""

    rules: tuple[ErrorRule, ...]

    def rule_for(self, status: int) -> ErrorRule | None:
        exact = [r for r in self.rules if r.status == status]
        return next((r for r in exact or self.rules if r.matches(status)), None)

    @classmethod
    def from_spec(cls, rules: Iterable[Mapping[str, Any]]) -> ErrorMap:
        """From ``x-tinkex-errors.map`` (each class as :func:`status_error` makes it)."""
        return cls(tuple(ErrorRule(r["status"], status_error(r["exception"]),
                                   bool(r.get("retryable", False))) for r in rules))
