"""Templates and the filters they use (times, sizes, metrics), autoescaped.

Everything on a page that a client chose (names, metadata, prompts, sampled
text) goes through Jinja's HTML escaping; nothing is marked safe by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from .charts import value_label


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(float(value), tz=dt.timezone.utc)


def when(value: Any) -> str:
    """``2025-01-31 12:00:00 UTC`` for a datetime or wall-clock seconds; ``–`` for None."""
    moment = _utc(value)
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: Any) -> str:
    moment = _utc(value)
    return "" if moment is None else moment.isoformat()


def relative(value: Any) -> str:
    """``in 3 h`` / ``5 min ago``: how far a moment is from now."""
    moment = _utc(value)
    if moment is None:
        return "never"
    delta = moment.timestamp() - time.time()
    seconds = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.0f} {unit}"
            break
    else:
        amount = f"{seconds:.0f} s"
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def size(value: int | None) -> str:
    if value is None:
        return "–"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


def segment(value: str) -> str:
    """One URL path segment (run ids hold colons; checkpoint ids a slash)."""
    return quote(str(value), safe=":")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("tinkex.emulator.http.console", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, iso=iso, relative=relative, size=size, metric=value_label,
                       segment=segment, query=lambda v: quote(str(v), safe=""))
    return env


class Pages:
    """Renders a template into an HTML response with the headers every page carries."""

    def __init__(self) -> None:
        self._templates = Jinja2Templates(env=_environment())

    def render(self, request: Request, name: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        context.setdefault("owner", None)
        response = self._templates.TemplateResponse(request, name, context, status_code=status)
        assert isinstance(response, HTMLResponse)
        response.headers.update({
            # Pages are per-owner: never cached, never framed, no referrer beyond this server.
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                       "style-src 'self'; script-src 'self'; "
                                       "frame-ancestors 'none'; form-action 'self'",
        })
        return response
