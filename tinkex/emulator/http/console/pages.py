"""The console's routes: pages, the run's metrics as JSON and PNG, downloads, sign-in.

Paths follow the hosted console's (``/training_runs/{id}``,
``/checkpoints/{run}/{checkpoint_id}``, ``/sessions/{id}``, ``/playground``)
under ``/console``, so a client only swaps the base URL. A request without a
signed-in owner is sent to the sign-in page (pages) or answered 401 (data).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tinkex.emulator.errors import HTTPProblem

from ..handlers.rest import archive_of
from ..services import Services
from . import playground, views
from .access import PREFIX, ConsoleAccess, login_redirect, safe_next
from .charts import run_charts
from .raster import charts_png
from .render import Pages

PAGE_SIZE = 50

Handler = Callable[[Request, str], Awaitable[Response]]


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


class Console:
    def __init__(self, services: Services):
        self.s = services
        self.access: ConsoleAccess = services.console
        self.pages = Pages()

    # -- plumbing -------------------------------------------------------------------

    def _error(self, request: Request, status: int, message: str, owner: str | None) -> Response:
        if request.url.path.endswith((".json", ".png")):
            return JSONResponse({"detail": message}, status_code=status)
        return self.pages.render(request, "error.html", status, owner=owner, status_code=status,
                                 message=message)

    def signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Run ``handler(request, owner)`` for a signed-in owner; errors become pages."""
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            owner = None
            try:
                owner = self.access.owner(request)
                if owner is None:
                    if request.url.path.endswith((".json", ".png")):
                        return JSONResponse({"detail": "sign in to the console first"},
                                            status_code=401)
                    target = request.url.path + (f"?{request.url.query}"
                                                 if request.url.query else "")
                    return login_redirect(target)
                return await handler(request, owner)
            except HTTPProblem as e:
                return self._error(request, e.status, str(e.detail), owner)
        return endpoint

    def routes(self) -> list[BaseRoute]:
        page = self.signed_in
        return [
            Route(PREFIX, lambda r: RedirectResponse(f"{PREFIX}/", status_code=308)),
            Mount(PREFIX, routes=[
                Route("/", page(self.runs)),
                Route("/training_runs", page(self.runs)),
                Route("/training_runs/{run_id}", page(self.run)),
                Route("/training_runs/{run_id}/metrics.json", page(self.metrics_json)),
                Route("/training_runs/{run_id}/metrics.png", page(self.metrics_png)),
                Route("/checkpoints/{run_id}/{checkpoint_id:path}", page(self.checkpoint)),
                Route("/archives/{run_id}/{kind}/{name}", page(self.archive)),
                Route("/sessions", page(self.sessions)),
                Route("/sessions/{session_id}", page(self.session)),
                Route("/playground", page(self.playground)),
                Route("/login", self.login, methods=["GET", "POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/link/{rest:path}", self.access.follow_link),
                Mount("/static", StaticFiles(packages=[("tinkex.emulator.http.console", "static")]),
                      name="static"),
            ]),
        ]

    # -- pages ----------------------------------------------------------------------

    def _listing(self, request: Request, owner: str, template: str,
                 rows_of: Callable[[Services, str, int, int], tuple[list[Any], int]]) -> Response:
        number = _page_number(request)
        rows, total = rows_of(self.s, owner, (number - 1) * PAGE_SIZE, PAGE_SIZE)
        return self.pages.render(request, template, owner=owner, rows=rows, total=total,
                                 page=number, pages=max(1, -(-total // PAGE_SIZE)))

    async def runs(self, request: Request, owner: str) -> Response:
        return self._listing(request, owner, "runs.html", views.run_rows)

    async def run(self, request: Request, owner: str) -> Response:
        detail = await asyncio.to_thread(views.run_page, self.s, owner,
                                         request.path_params["run_id"])
        return self.pages.render(request, "run.html", owner=owner, page=detail)

    async def metrics_json(self, request: Request, owner: str) -> Response:
        run = views.visible_run(self.s, owner, request.path_params["run_id"])
        steps = self.s.history.steps(run.run_id)
        return JSONResponse({"training_run_id": run.run_id,
                             "steps": [dataclasses.asdict(step) for step in steps]},
                            headers={"Cache-Control": "no-store"})

    async def metrics_png(self, request: Request, owner: str) -> Response:
        run = views.visible_run(self.s, owner, request.path_params["run_id"])
        steps = self.s.history.steps(run.run_id)
        title = f"{run.base_model}  {run.run_id}  ({len(steps)} steps)"
        png = await asyncio.to_thread(charts_png, run_charts(steps), title)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def checkpoint(self, request: Request, owner: str) -> Response:
        checkpoint, run = views.checkpoint_of(self.s, owner, request.path_params["run_id"],
                                              request.path_params["checkpoint_id"])
        return self.pages.render(request, "checkpoint.html", owner=owner, checkpoint=checkpoint,
                                 run=run, own=run.owner == owner)

    async def archive(self, request: Request, owner: str) -> Response:
        p = request.path_params  # only the owner downloads, as through the API
        return await archive_of(self.s, self.s.checkpoint(owner, p["run_id"], p["kind"],
                                                          p["name"]))

    async def sessions(self, request: Request, owner: str) -> Response:
        return self._listing(request, owner, "sessions.html", views.session_rows)

    async def session(self, request: Request, owner: str) -> Response:
        detail = views.session_page(self.s, owner, request.path_params["session_id"])
        return self.pages.render(request, "session.html", owner=owner, page=detail,
                                 status_of=views.status_of)

    async def playground(self, request: Request, owner: str) -> Response:
        query = playground.Query.of(request.query_params)
        completions: list[playground.Completion] = []
        seconds = 0.0
        if query.submitted:
            completions, seconds = await playground.run(self.s, owner, query)
        return self.pages.render(
            request, "playground.html", status=400 if query.errors else 200, owner=owner,
            query=query, completions=completions, seconds=seconds,
            checkpoints=views.sampleable(self.s, owner), base_models=self.s.catalog.names(),
            limits={"max_tokens": playground.MAX_TOKENS, "num_samples": playground.MAX_SAMPLES})

    # -- signing in -----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        error: str | None = None
        target = safe_next(request.query_params.get("next", ""))
        if request.method == "POST":
            response, error = await self.access.login(request)
            if response is not None:
                return response
        reason = request.query_params.get("reason")
        notice = {"expired": "That console link has expired.",
                  "invalid": "That console link is not valid here."}.get(reason or "")
        return self.pages.render(request, "login.html", 401 if error else 200, error=error,
                                 notice=notice, next=target)

    async def logout(self, request: Request) -> Response:
        return self.access.logout(request)


def routes(services: Services) -> list[BaseRoute]:
    """The console's routes, to add to the emulator's app."""
    return Console(services).routes()
