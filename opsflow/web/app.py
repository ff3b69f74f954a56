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
import json
import logging
import os
import time
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

LOG = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
#: The login form's body holds one token: more than this is refused (413).
LOGIN_BODY_MOST = 8192
Handler = Callable[[Request], Awaitable[Response]]

#: Errors a request can meet, and how they are answered.
_STATUS = (
    (exceptions.RunNotFound, 404),
    (PluginNotFound, 404),
    (exceptions.PluginError, 422),  # a flow that does not load or build
    (exceptions.DependencyFailure, 422),
    (exceptions.UsageError, 400),
    (exceptions.StorageFailure, 503),
    (exceptions.Unavailable, 503),
    (exceptions.ServiceUnavailable, 503),
    (exceptions.OpsflowException, 500),
)
#: What a client is told when the store fails: the driver's own text may
#: name the store's URL, so it goes to opsflow-web's log only.
STORE_LOST = "the run store cannot be reached now; try again later"


def _status_of(exc: Exception) -> int | None:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return None


def _message_of(exc: Exception) -> str:
    if isinstance(exc, exceptions.StorageFailure | exceptions.Unavailable):
        LOG.warning("the run store failed: %s", exc)
        return STORE_LOST
    return " ".join(str(exc).split())


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
    env.filters["json_text"] = _json_text
    return env


def _json_text(value: Any) -> str:
    """``value`` as JSON text, for autoescaping to escape once, as the live
    script shows it (``tojson`` is for script blocks: it writes ``\\u003c``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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
    every request but the login form's must carry it. The store's runs are
    read here, before any request.

    :raises Unavailable: the store cannot be reached (exit 69).
    """
    runs = RunStore(conf, catalog)
    env = _templates()

    def page(name: str, code: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(signed_in=token is not None, **values)
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
                    message = _message_of(exc)
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
            runs.mark_needs_person(rows)
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
        _result, document = await run_in_threadpool(runs.run, run_id)
        return page(
            "run.html",
            run=document,
            running_by=document["running_by"],
            live=_live(document),
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
        body = await _small_body(request, LOGIN_BODY_MOST)
        if body is None:
            return page("login.html", 413, failed=False, too_large=True)
        # A form of one field: read without a multipart parser.
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        if token is None:
            return RedirectResponse("/runs", status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return page("login.html", 401, failed=True)
        response = RedirectResponse("/runs", status_code=303)
        expires = int(time.time()) + security.SESSION_SECONDS
        response.set_cookie(
            security.COOKIE,
            security.session_value(token, expires),
            max_age=security.SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login" if token else "/runs", status_code=303)
        response.delete_cookie(
            security.COOKIE, path="/", httponly=True, samesite="strict"
        )
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse("/runs", status_code=307)

    # Read the store's runs and compile the templates now: a store that
    # cannot be reached is an error before opsflow-web says it serves.
    _warm(runs, env)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
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
            Route("/logout", logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static"))),
        ],
        lifespan=lifespan,
    )
    return security.TokenCheck(app, token, str(conf.web.host))


async def _small_body(request: Request, most: int) -> bytes | None:
    """The request's body, or None as soon as it is longer than ``most`` bytes
    (by its ``Content-Length`` or by what arrives): nothing more is read."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > most:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > most:
            return None
    return bytes(body)


def _live(document: dict[str, Any]) -> bool:
    """True while a run is under way: not ended, suspended or interrupted."""
    return document["state"] not in states.FINAL_STATES and not document["interrupted"]


def _warm(runs: RunStore, env: Environment) -> None:
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    rows, _total = runs.history(RunFilters())
    runs.mark_needs_person(rows)
