"""The opsflow-web application: routes, templates and static assets.

Pages are Jinja2 templates around the documents of :mod:`opsflow.web.pages`;
the API serves those documents as JSON. Every route answers GET (and HEAD)
only, but the login form: the view reads, it never runs or reverts.
A run page polls ``/api/v1/runs/RUN_ID`` while the run is under way and
updates its steps and picture in place (``static/opsflow-web.js``).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from opsflow import exceptions, states
from opsflow.plugins.loader import PluginNotFound
from opsflow.web import security
from opsflow.web.pages import PAGE_SIZE, RUN_STATES, RunFilters, RunStore

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.plugins.catalog import Catalog

__all__ = ["create_app"]

HERE = os.path.dirname(os.path.abspath(__file__))
Handler = Callable[[Request], Awaitable[Response]]

#: Errors a request can meet, and how they are answered.
_STATUS = (
    (exceptions.RunNotFound, 404),
    (PluginNotFound, 404),
    (exceptions.UsageError, 400),
    (exceptions.ServiceUnavailable, 503),
    (exceptions.OpsflowException, 500),
)


def _status_of(exc: Exception) -> int | None:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return None


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(os.path.join(HERE, "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["ENDED_STATES"] = states.ENDED_STATES
    env.filters["seconds"] = _seconds
    env.filters["when"] = _when
    return env


def _seconds(value: float | None) -> str:
    if not value:
        return "-"
    return (
        f"{value:.2f}s" if value < 60 else f"{int(value) // 60}m{int(value) % 60:02d}s"
    )


def _when(value: str | None) -> str:
    """An ISO time as the pages show it: ``2026-01-31 08:00:00``, UTC."""
    if not value:
        return "-"
    return value.replace("T", " ").split("+")[0].split(".")[0]


def create_app(
    conf: cfg.ConfigOpts, catalog: Catalog, token: str | None = None
) -> security.ASGIApp:
    """The application over the run store ``conf`` names; with ``token``,
    every request but the login form's must carry it."""
    runs = RunStore(conf, catalog)
    env = _templates()

    def page(name: str, code: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(**values)
        return HTMLResponse(html, status_code=code)

    def reading(html: bool) -> Callable[[Handler], Handler]:
        """Run the handler's store reads off the event loop; answer its errors."""

        def wrap(handler: Handler) -> Handler:
            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    status = _status_of(exc)
                    if status is None:
                        raise
                    message = " ".join(str(exc).split())
                    if html:
                        return page("error.html", status, status=status, error=message)
                    return JSONResponse({"error": message}, status_code=status)

            return answer

        return wrap

    # -- pages ------------------------------------------------------------
    @reading(html=True)
    async def runs_page(request: Request) -> Response:
        filters = RunFilters.from_query(request.query_params)

        def read() -> dict[str, Any]:
            rows, total = runs.history(filters)
            for row in rows:
                row["needs_person"] = runs.needs_person(row)
            return {"rows": rows, "total": total, "flows": runs.flow_names()}

        found = await run_in_threadpool(read)
        return page(
            "runs.html",
            filters=filters,
            states=RUN_STATES,
            page_size=PAGE_SIZE,
            **found,
        )

    @reading(html=True)
    async def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        result, document = await run_in_threadpool(runs.run, run_id)
        return page(
            "run.html",
            run=document,
            running_by=result.running_by,
            live=result.state not in states.ENDED_STATES and not result.interrupted,
        )

    @reading(html=False)
    async def run_picture(request: Request) -> Response:
        svg = await run_in_threadpool(runs.picture_svg, request.path_params["run_id"])
        return Response(svg, media_type="image/svg+xml")

    @reading(html=True)
    async def flows_page(request: Request) -> Response:
        def read() -> dict[str, Any]:
            document = runs.flows()
            plans: dict[str, Any] = {}
            for flow in document["flows"]:
                try:
                    plans[flow["name"]] = runs.plan(flow["name"])
                except exceptions.OpsflowException as exc:
                    plans[flow["name"]] = {"error": " ".join(str(exc).split())}
            return {**document, "plans": plans}

        return page("flows.html", **await run_in_threadpool(read))

    # -- the JSON API -----------------------------------------------------
    @reading(html=False)
    async def api_runs(request: Request) -> Response:
        filters = RunFilters.from_query(request.query_params)
        rows, total = await run_in_threadpool(runs.history, filters)
        return JSONResponse(rows, headers={"x-total-count": str(total)})

    @reading(html=False)
    async def api_run(request: Request) -> Response:
        _result, document = await run_in_threadpool(
            runs.run, request.path_params["run_id"]
        )
        return JSONResponse(document)

    @reading(html=False)
    async def api_flows(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(runs.flows))

    @reading(html=False)
    async def api_plan(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse(await run_in_threadpool(runs.plan, name))

    # -- signing in -------------------------------------------------------
    async def login_form(request: Request) -> Response:
        return page("login.html", failed=False)

    async def login(request: Request) -> Response:
        # A form of one field: read without a multipart parser.
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        if token is None:
            return RedirectResponse("/runs", status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return page("login.html", 401, failed=True)
        response = RedirectResponse("/runs", status_code=303)
        response.set_cookie(
            security.COOKIE,
            security.session_value(token),
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse("/runs", status_code=307)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Read the store's runs and compile the templates before the first
        # request needs them.
        await run_in_threadpool(_warm, runs, env)
        yield
        runs.close()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/runs", runs_page),
            Route("/runs/{run_id}", run_page),
            Route("/runs/{run_id}/picture.svg", run_picture),
            Route("/flows", flows_page),
            Route("/api/v1/runs", api_runs),
            Route("/api/v1/runs/{run_id}", api_run),
            Route("/api/v1/flows", api_flows),
            Route("/api/v1/flows/{name}/plan", api_plan),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static"))),
        ],
        lifespan=lifespan,
    )
    return security.TokenCheck(app, token)


def _warm(runs: RunStore, env: Environment) -> None:
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    rows, _total = runs.history(RunFilters())
    for row in rows:
        runs.needs_person(row)
