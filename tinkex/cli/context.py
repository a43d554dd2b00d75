"""What every command shares: the connection settings, lazily built clients, common options.

Clients are created on first use (``version`` and ``emulator serve`` never need an
API key) and closed when the click context ends, whatever way it ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .output import FORMATS, emit, note, to_json

if TYPE_CHECKING:
    from tinkex.rest_client import RestClient
    from tinkex.service_client import FinishStatus, ServiceClient

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

API_KEY_ENV = "TINKER_API_KEY"
BASE_URL_ENV = "TINKER_BASE_URL"
DEFAULT_MAX_RETRIES = 2
MAX_PAGE = 100


@dataclass
class CliState:
    """The global options and the clients made from them."""

    base_url: str | None = None
    api_key: str | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    status: FinishStatus = "success"
    """How the server session (if one was made) is finished: success/errored/interrupted."""
    _service: ServiceClient | None = field(default=None, repr=False)
    _url: str | None = field(default=None, repr=False)

    def service(self) -> ServiceClient:
        """One ServiceClient per invocation (its server session is only made when needed)."""
        if self._service is None:
            from tinkex.service_client import ServiceClient

            if not (self.api_key or os.environ.get(API_KEY_ENV)):
                raise click.ClickException(f"no API key: pass --api-key or set {API_KEY_ENV}")
            self._service = ServiceClient(base_url=self.base_url, api_key=self.api_key,
                                          max_retries=self.max_retries)
            self._url = self._service.base_url
            # the root context: error messages still need the URL after a subcommand ends
            click.get_current_context().find_root().call_on_close(self.close)
        return self._service

    def rest(self) -> RestClient:
        return self.service().create_rest_client()

    def console_base(self) -> str:
        """Where the server's console lives (its client config says; else the hosted one)."""
        return self.service()._ctx.console_base_url()

    @property
    def resolved_base_url(self) -> str:
        """The URL the client talks to (known once a client was made)."""
        return self._url or self.base_url or os.environ.get(BASE_URL_ENV) or "the server"

    def close(self) -> None:
        if self._service is not None:
            service, self._service = self._service, None
            try:
                service.close(self.status)
            except Exception:
                # after Ctrl-C, cancelling in-flight futures may fail (APIFuture.cancel on a
                # future cancelled twice); the user asked to stop, so don't bury that in a trace
                if self.status != "interrupted":
                    raise


pass_state = click.make_pass_decorator(CliState, ensure=True)


def format_option(fn: F) -> F:
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(fn)


def limit_option(noun: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        return click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
                            help=f"Show at most this many {noun} (0 = all).")(fn)
    return decorate


def page_size(limit: int) -> int:
    """Fetch one item more than asked, so we know whether more exist."""
    return min(limit + 1, MAX_PAGE) if limit else MAX_PAGE


def take(items: Iterable[T], limit: int) -> tuple[list[T], bool]:
    """The first ``limit`` items (every item when 0) and whether any were left over."""
    iterator: Iterator[T] = iter(items)
    if limit == 0:
        return list(iterator), False
    got = list(islice(iterator, limit + 1))
    return got[:limit], len(got) > limit


def more_hint(limit: int, noun: str) -> str:
    return f"(showing the first {limit} {noun}; more exist: use --limit 0 to list all)"


def emit_listing(fmt: str, key: str, items: Iterable[T], limit: int,
                 render: Callable[[list[T]], str]) -> None:
    """Print up to ``limit`` items as JSON ``{key: [...], "has_more": ...}`` or via ``render``.

    ``render`` gets the shown items (never an empty list); a hint on stderr says
    when the limit cut the list short.
    """
    noun = key.replace("_", " ")
    shown, more = take(items, limit)
    if fmt == "json":
        emit(to_json({key: shown, "has_more": more}))
        return
    emit(render(shown) if shown else f"No {noun}.")
    if more:
        note(more_hint(limit, noun))


__all__ = ["CliState", "emit_listing", "format_option", "limit_option", "more_hint", "page_size",
           "pass_state", "take"]
