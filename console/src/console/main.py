"""create_app(): the console's pages, its static assets and its security headers."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import alert_pages, aup, computing, head, lead, pages, roll
from console.api import SignedOut
from console.auth import make_sign_in
from console.config import ConsoleSettings
from console.sessions import MemoryStore, RedisStore, SessionStore, decode_key
from console.web import (
    SECURITY_HEADERS,
    CsrfFailed,
    NotSignedIn,
    browser_session,
    loaded_session,
    render,
    session_cookie,
    sign_in_redirect,
    start_timer,
    store_of,
)
from servicekit.clock import Clock, SystemClock
from servicekit.errors import problem_body, problem_response

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("console")


def session_store(settings: ConsoleSettings, clock: Clock) -> SessionStore:
    """Redis, shared by every console replica, when CONSOLE_REDIS_URL is set; else this process's memory."""
    idle = timedelta(seconds=settings.idle_timeout_seconds)
    absolute = timedelta(seconds=settings.absolute_timeout_seconds)
    url = settings.redis_url.get_secret_value()
    if not url:
        return MemoryStore(clock, idle=idle, absolute=absolute)
    return RedisStore.from_url(
        url,
        clock,
        idle=idle,
        absolute=absolute,
        key=decode_key(settings.session_key.get_secret_value()),
        prefix=settings.redis_key_prefix,
    )


def sessions_unavailable() -> Response:
    """Without its session store the console can show nobody's pages (no session to render)."""
    return HTMLResponse(
        '<!doctype html><html lang="en"><title>Sign-in is not available</title>'
        "<h1>Sign-in is not available</h1><p>Try again in a minute.</p></html>",
        status_code=503,
        headers={"Retry-After": "30"},
    )


def create_app(settings: ConsoleSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=settings.api_timeout_seconds
        ) as http:
            app.state.http = http
            try:
                yield
            finally:
                await app.state.sessions.close()

    app = FastAPI(title="Console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = clock
    app.state.sessions = session_store(settings, clock)
    app.state.sign_in = make_sign_in(settings, clock)
    cookie = session_cookie(settings)

    @app.middleware("http")
    async def headers_and_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start_timer(request)
        response = await call_next(request)
        session = loaded_session(request)
        if session is not None:
            try:
                await store_of(request).save(session)
            except (RedisError, OSError) as exc:
                # Unsaved, the page's change (a sign-in, a confirmation) would be lost: say so.
                log.warning("console: sessions unavailable (%s)", type(exc).__name__)
                response = sessions_unavailable()
            else:
                if cookie.read(request) != session.id:
                    cookie.set(response, session.id)
        static = request.url.path.startswith(("/static/", "/assets/"))
        for name, value in SECURITY_HEADERS.items():
            if static and name in ("Cache-Control", "Pragma"):
                continue
            response.headers.setdefault(name, value)
        if static:
            response.headers["Cache-Control"] = "public, max-age=3600"
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
        await store_of(request).end(await browser_session(request))
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

    @app.exception_handler(RedisError)
    async def redis_error(request: Request, exc: RedisError) -> Response:
        log.warning("console: sessions unavailable (%s)", type(exc).__name__)
        request.state.session = None
        return sessions_unavailable()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            # What an API client meets at an address no service takes: the platform's problem+json.
            body = problem_body(exc.status_code, "There is nothing at this address.", slug="not-found")
            body["request_id"] = request.headers.get("x-request-id", "")
            return JSONResponse(body, status_code=exc.status_code, media_type="application/problem+json")
        with contextlib.suppress(RedisError):
            await browser_session(request)  # the page says who is signed in
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
    async def readyz(request: Request) -> Response:
        """The console can keep sessions (its Redis answers, when it has one)."""
        if not await store_of(request).ping():
            return problem_response(503, "The console's session store is not reachable.", slug="not-ready")
        return JSONResponse({"status": "ready"})

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
