"""What RestClient and AdminClient share: a connection without a session, and its lifecycle.

Made by a ServiceClient (sharing its connection, which that client closes) or
directly with ``base_url`` / ``api_key`` (then ``close()``, or a ``with`` block,
stops the threads). Every call is scheduled on the client's threads and
returns an :class:`~tinkex.APIFuture`.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from tinkex._context import ClientContext
from tinkex._passthrough import PassThrough

if TYPE_CHECKING:
    from tinkex.core.telemetry import TelemetryReporter

T = TypeVar("T")
S = TypeVar("S", bound="SessionlessClient")


class SessionlessClient(PassThrough):
    _ctx: ClientContext

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 _context: ClientContext | None = None) -> None:
        self._owns_context = _context is None
        self._ctx = _context or ClientContext(base_url=base_url, api_key=api_key,
                                              with_session=False)

    def get_telemetry(self) -> TelemetryReporter | None:
        """The reporter that sends this client's telemetry events."""
        return self._ctx.telemetry

    def close(self) -> None:
        """Stop this client's threads (only if it was constructed directly)."""
        if self._owns_context:
            self._ctx.close(None)

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._ctx.config.base_url}>"
