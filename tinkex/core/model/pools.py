"""Connection pools and timeouts as immutable values (urllib3's ``Timeout`` style)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PoolSpec", "Timeout", "TimeoutOverride"]


@dataclass(frozen=True)
class Timeout:
    """Seconds to wait to connect, and between bytes of the response (urllib3 style)."""

    connect: float
    read: float

    def merged(self, override: TimeoutOverride | None) -> Timeout:
        if override is None:
            return self
        return Timeout(self.connect if override.connect is None else override.connect,
                       self.read if override.read is None else override.read)

    @classmethod
    def coerce(cls, value: float | tuple[float, float] | Timeout | None, default: Timeout) -> Timeout:
        """A per-call timeout: ``None`` keeps the default, a number sets both, a pair is (connect, read)."""
        if value is None:
            return default
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            return cls(float(value[0]), float(value[1]))
        return cls(float(value), float(value))


@dataclass(frozen=True)
class TimeoutOverride:
    """An operation's partial timeout, laid over the client's default."""

    connect: float | None = None
    read: float | None = None


@dataclass(frozen=True)
class PoolSpec:
    """A named connection pool: how many connections it keeps to the API host."""

    name: str
    connections: int
