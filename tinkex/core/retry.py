"""The one HTTP retry loop, and the immutable policy values that drive it.

Each operation names a retry policy in the document. The loop retries the
policy's statuses and (if asked) connection errors and timeouts, waits for the
server's ``retry-after-ms`` / ``retry-after`` when it is small enough and a
jittered exponential backoff otherwise, lets a ``should_retry_header`` answer
override its own decision, and stops at the attempt or time budget. Sleeping,
the clock and the random source are injected so tests never really wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .classify import Answer, retry_after_seconds, should_retry
from .errors import APIConnectionError

log = logging.getLogger("tinkex.core.retry")
_A = TypeVar("_A", bound=Answer)


@dataclass(frozen=True)
class StatusSet:
    """HTTP statuses as the document lists them: exact codes and classes such as ``"5XX"``.

    Iterating yields the items as written, so the set can be handed on unchanged.
    """

    items: tuple[int | str, ...] = ()
    _codes: frozenset[int] = field(init=False, repr=False, compare=False)
    _classes: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_codes", frozenset(i for i in self.items if isinstance(i, int)))
        object.__setattr__(self, "_classes",
                           frozenset(int(i[0]) for i in self.items if isinstance(i, str)))

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and (status in self._codes or status // 100 in self._classes)

    def __iter__(self) -> Iterator[int | str]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @classmethod
    def of(cls, items: Any) -> StatusSet:
        return cls(tuple(items or ()))


@dataclass(frozen=True)
class Backoff:
    """``min(initial * multiplier**n, max) * (1 - jitter * random())`` seconds before retry n+1."""

    initial: float = 0.5
    max: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.0

    def delay(self, retries_taken: int, rand: float) -> float:
        base = min(self.initial * self.multiplier ** retries_taken, self.max)
        return base * (1.0 - self.jitter * rand)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> Backoff:
        if not spec:
            return cls()
        return cls(initial=float(spec["initial"]), max=float(spec["max"]),
                   multiplier=float(spec.get("multiplier", 2.0)),
                   jitter=float(spec.get("jitter", 0.0)))


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often to send a request again (urllib3 ``Retry`` style: an immutable value).

    ``max_attempts`` counts the first attempt; ``None`` means only ``budget_seconds`` bounds it.
    """

    name: str
    max_attempts: int | None = 1
    budget_seconds: float | None = None
    statuses: StatusSet = StatusSet()
    connection_errors: bool = False
    backoff: Backoff = Backoff()
    retry_after_max: float | None = None
    should_retry_header: str | None = None

    @property
    def retries(self) -> bool:
        """Whether this policy can ever send a second attempt."""
        return self.max_attempts is None or self.max_attempts > 1

    def with_max_retries(self, max_retries: int) -> RetryPolicy:
        """The same policy allowing ``max_retries`` retries after the first attempt."""
        return replace(self, max_attempts=max(0, max_retries) + 1)

    @classmethod
    def from_spec(cls, name: str, spec: Mapping[str, Any]) -> RetryPolicy:
        budget = spec.get("budget_seconds")
        retry_after = spec.get("retry_after")
        return cls(
            name=name,
            max_attempts=spec.get("max_attempts", 1),
            budget_seconds=None if budget is None else float(budget),
            statuses=StatusSet.of(spec.get("statuses")),
            connection_errors=bool(spec.get("connection_errors", False)),
            backoff=Backoff.from_spec(spec.get("backoff")),
            retry_after_max=float(retry_after["max_seconds"]) if retry_after else None,
            should_retry_header=spec.get("should_retry_header"),
        )


SINGLE_ATTEMPT = RetryPolicy("single-attempt")


@dataclass(frozen=True)
class RetryReport:
    """How a retry loop ended."""

    attempts: int
    elapsed: float
    last_status: int | None
    exhausted: bool
    """True when the last failure was retryable but the attempt or time budget was spent."""


class RetryLoop:
    """Runs attempts under a policy. ``attempt(n)`` sends try number n (0 = first)."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 random: Callable[[], float] = random.random) -> None:
        self._sleep = sleep
        self._clock = clock
        self._random = random

    def run(self, policy: RetryPolicy, attempt: Callable[[int], _A],
            describe: str = "request") -> tuple[_A, RetryReport]:
        """The first 2xx response, or the last response once retrying stops.

        A connection error that is not retried (or the last one) is raised after
        recording the attempts on it.
        """
        start = self._clock()
        attempts = 0
        last_status: int | None = None
        while True:
            try:
                response = attempt(attempts)
            except APIConnectionError as exc:
                attempts += 1
                delay = self._delay(policy, attempts, None) if policy.connection_errors else None
                if delay is None or not self._within_budget(policy, attempts, start, delay):
                    exc.record_attempts(attempts, self._clock() - start, last_status,
                                        exhausted=policy.connection_errors)
                    raise
                self._wait(describe, type(exc).__name__, attempts, policy, delay)
                continue
            attempts += 1
            last_status = response.status
            if response.ok or not self._should_retry(policy, response):
                return response, RetryReport(attempts, self._clock() - start, last_status, False)
            delay = self._delay(policy, attempts, response)
            if delay is None or not self._within_budget(policy, attempts, start, delay):
                return response, RetryReport(attempts, self._clock() - start, last_status, True)
            self._wait(describe, f"HTTP {last_status}", attempts, policy, delay)

    @staticmethod
    def _should_retry(policy: RetryPolicy, response: Answer) -> bool:
        return should_retry(policy, response)

    def _delay(self, policy: RetryPolicy, attempts: int, response: Answer | None) -> float | None:
        if policy.max_attempts is not None and attempts >= policy.max_attempts:
            return None
        if response is not None and policy.retry_after_max is not None:
            wait = retry_after_seconds(response.headers)
            if wait is not None and 0 < wait <= policy.retry_after_max:
                return wait
        return policy.backoff.delay(attempts - 1, self._random())

    def _within_budget(self, policy: RetryPolicy, attempts: int, start: float, delay: float) -> bool:
        if policy.budget_seconds is None:
            return True
        return self._clock() - start + delay <= policy.budget_seconds

    def _wait(self, describe: str, why: str, attempts: int, policy: RetryPolicy,
              delay: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            limit = policy.max_attempts if policy.max_attempts is not None else "∞"
            log.debug("%s: %s; retry %d (attempt %d of %s) in %.3f s", describe, why, attempts,
                      attempts + 1, limit, delay)
        self._sleep(delay)
