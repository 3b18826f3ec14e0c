"""create_app(): the console's pages, its static assets and its security headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import alert_pages, aup, computing, head, lead, pages, roll
from console.api import SignedOut
from console.auth import make_sign_in
from console.config import ConsoleSettings
from console.sessions import SessionStore
from console.web import (
    SECURITY_HEADERS,
    CsrfFailed,
    NotSignedIn,
    browser_session,
    render,
    session_cookie,
    sign_in_redirect,
    start_timer,
    store_of,
)
from servicekit.clock import Clock, SystemClock
from servicekit.errors import problem_body

STATIC = Path(__file__).parent / "static"


def create_app(settings: ConsoleSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=settings.api_timeout_seconds
        ) as http:
            app.state.http = http
            yield

    app = FastAPI(title="Console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.sessions = SessionStore(
        clock,
        idle=timedelta(seconds=settings.idle_timeout_seconds),
        absolute=timedelta(seconds=settings.absolute_timeout_seconds),
    )
    app.state.sign_in = make_sign_in(settings, clock)
    cookie = session_cookie(settings)

    @app.middleware("http")
    async def headers_and_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start_timer(request)
        response = await call_next(request)
        static = request.url.path.startswith(("/static/", "/assets/"))
        for name, value in SECURITY_HEADERS.items():
            if static and name in ("Cache-Control", "Pragma"):
                continue
            response.headers.setdefault(name, value)
        if static:
            response.headers["Cache-Control"] = "public, max-age=3600"
        session = getattr(request.state, "session", None)
        if session is not None and cookie.read(request) != session.id:
            cookie.set(response, session.id)
        total = (time.perf_counter() - request.state.started) * 1000
        api = sum(request.state.api_timings) * 1000
        response.headers["Server-Timing"] = (
            f'total;dur={total:.1f}, api;dur={api:.1f};desc="{len(request.state.api_timings)} calls"'
        )
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return sign_in_redirect(exc.next_path)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, _exc: SignedOut) -> Response:
        store_of(request).end(browser_session(request))
        request.state.session = None
        return sign_in_redirect(request.url.path if request.method == "GET" else "/")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        return render(
            request,
            "problem.html",
            status_code=403,
            problem={"title": "This form has expired", "detail": "Go back, reload the page and try again."},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            # What an API client meets at an address no service takes: the platform's problem+json.
            body = problem_body(exc.status_code, "There is nothing at this address.", slug="not-found")
            body["request_id"] = request.headers.get("x-request-id", "")
            return JSONResponse(body, status_code=exc.status_code, media_type="application/problem+json")
        return render(
            request,
            "problem.html",
            status_code=exc.status_code,
            problem={
                "title": "Page not found" if exc.status_code == 404 else "Something went wrong",
                "detail": str(exc.detail),
            },
        )

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=str(STATIC), check_dir=False), name="static")
    # GOV.UK Frontend's built CSS asks for its fonts and images at /assets/ (its default path).
    app.mount(
        "/assets", StaticFiles(directory=str(STATIC / "govuk" / "assets"), check_dir=False), name="assets"
    )
    pages.install(app)
    head.install(app)
    computing.install(app)
    lead.install(app)
    alert_pages.install(app)  # staff alerts (issue 15)
    aup.install(app)
    roll.install(app)
    return app
