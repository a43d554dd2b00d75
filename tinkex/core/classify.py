"""The result classifier: the one place that reads what an attempt's outcome means.

Every layer of the resilience stack (see ``resilience.py``) acts on the same
reading of an attempt: the retry loop asks :func:`should_retry` and
:func:`retry_after_seconds`; the shared rate limiter, the dispatch limiter and
the circuit breaker get an :class:`Outcome` from :func:`classify`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .errors import APIConnectionError, APITimeoutError

if TYPE_CHECKING:
    from .retry import RetryPolicy, StatusSet


class Answer(Protocol):
    """What the classifier reads of an attempt's response (fully read or still streaming)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def ok(self) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    """What one attempt's result means for the layers around the transport."""

    status: int | None
    """The HTTP status, or None when no response came."""
    error: str | None
    """``"connection_error"`` or ``"timeout"`` when no response came."""
    retry_after: float | None
    """Seconds the server asked us to wait (``retry-after-ms`` / ``retry-after``)."""
    throttled: bool
    """A rate-limit answer: every client of this API key should slow down."""
    failure: bool
    """A server-side failure (a failure status, or no response): counts against a breaker."""


def retry_after_seconds(headers: Mapping[str, str],
                        now: Callable[[], float] = time.time) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``retry-after`` (seconds or HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - now()


def should_retry(policy: RetryPolicy, response: Answer) -> bool:
    """Whether ``policy`` sends the request again after ``response`` (the server's header wins)."""
    if policy.should_retry_header:
        answer = response.headers.get(policy.should_retry_header, "").strip().lower()
        if answer == "true":
            return True
        if answer == "false":
            return False
    return response.status in policy.statuses


def classify(response: Answer | None, error: APIConnectionError | None = None, *,
             throttle: StatusSet, failures: StatusSet) -> Outcome:
    """The :class:`Outcome` of an attempt that got ``response``, or failed with ``error``.

    ``throttle`` are the rate-limit statuses, ``failures`` the statuses that
    count as server failures (a breaker's ``failure_statuses``).
    """
    if response is None:
        kind = "timeout" if isinstance(error, APITimeoutError) else "connection_error"
        return Outcome(None, kind, None, False, True)
    status = response.status
    throttled = status in throttle
    wait = retry_after_seconds(response.headers) if throttled or status >= 400 else None
    return Outcome(status, None, wait, throttled, status in failures)
