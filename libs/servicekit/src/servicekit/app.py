"""The app factory every service uses: one place wires settings, database, tokens, errors,
request context, metrics, health and the people follower.

    def create_app(settings: IdentitySettings | None = None) -> FastAPI:
        settings = settings or IdentitySettings()
        return create_service_app(settings=settings, title="Identity", routers=[...])
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from servicekit.auth import AuthMiddleware, JWKSKeySource, KeySource, Principal, Scoped, TokenVerifier
from servicekit.clock import Clock, SystemClock
from servicekit.context import client_ip_var
from servicekit.db import create_engine, make_sessionmaker
from servicekit.errors import install_error_handlers, problem_response
from servicekit.logs import configure_logging
from servicekit.middleware import Metrics, RequestContextMiddleware
from servicekit.migrations import SchemaMismatch, check_schema
from servicekit.networks import contains
from servicekit.openapi import install_problem_openapi
from servicekit.outbox import WAKE_KEY, Handler, OutboxWorker, RetryPolicy
from servicekit.replica import FEED_HEAD_KEY, FOLLOWER_KEY, FeedHead, NotBeforeIndex, PeopleFollower
from servicekit.settings import ServiceSettings

log = logging.getLogger("servicekit.app")
Hook = Callable[[FastAPI], Awaitable[None]]
# An outbox topic's handler, made from the app once it is built (servicekit.outbox).
HandlerFactory = Callable[[FastAPI], Handler]


def freeze_startup_objects() -> None:
    """Collect once, then exempt every object alive now from later collections (`gc.freeze`).

    A server's start-up objects live as long as the process; left in the collector's generations,
    each full collection walks them all again. Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


async def get_clock(request: Request) -> Clock:  # async: no thread hop per request
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """The service can reach its database."""
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return problem_response(503, "The database is not reachable.", slug="not-ready")
        return Response('{"status":"ready"}', media_type="application/json")

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """For the configured scrapers only (`PLATFORM_METRICS_SCRAPERS`); 404 to anyone else."""
        if not contains(request.app.state.settings.metrics_scrapers, client_ip_var.get()):
            return problem_response(404, "There is nothing at this address.", slug="not-found")
        return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


# The scope of the operations token that may make a service follow identity's feed now (identity
# grants it only to clients configured in IDENTITY_SERVICE_CLIENTS).
REPLICA_SYNC_SCOPE = "replica:sync"


def replica_router() -> APIRouter:
    """Operations route to pull identity's feed now (deploy hooks, tests). Not routed by the gateway,
    and, like every route, it needs a token: one with the `replica:sync` scope."""
    router = APIRouter(tags=["operations"])

    @router.post("/internal/replica/sync", include_in_schema=False)
    async def sync_replica(
        request: Request, _principal: Annotated[Principal, Scoped(REPLICA_SYNC_SCOPE)]
    ) -> dict[str, int]:
        """Follow identity's people feed until caught up."""
        applied = await request.app.state.follower.sync_once()
        return {"applied": applied}

    return router


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    routers: Sequence[APIRouter],
    version: str = "1.0.0",
    description: str = "",
    clock: Clock | None = None,
    key_source: KeySource | None = None,
    follow_people: bool = False,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    migrations_dir: Path | None = None,
    outbox_handlers: Mapping[str, HandlerFactory] | None = None,
) -> FastAPI:
    """`migrations_dir`: the service's folder with alembic.ini; with it (and `schema_check` on),
    start-up refuses while the database is behind the code's migrations."""
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessionmaker = make_sessionmaker(engine)
    not_before = NotBeforeIndex()
    key_source = key_source or JWKSKeySource(settings.jwks_url, clock=clock)
    verifier = TokenVerifier(
        key_source,
        issuer=settings.issuer,
        audience=settings.audience,
        clock=clock,
        not_before=not_before,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        if migrations_dir is not None and settings.schema_check:
            try:
                await asyncio.to_thread(
                    check_schema, migrations_dir, settings.database_url, name=settings.service_name
                )
            except SchemaMismatch as exc:
                log.error("%s", exc)
                raise
        if isinstance(key_source, JWKSKeySource):
            # Identity's keys now, not at the first token: a replica started while identity is
            # up keeps verifying tokens (consent checks, phone returns) if identity goes down.
            try:
                await key_source.refresh()
            except Exception as exc:  # noqa: BLE001 - identity not up yet: fetched on first use
                log.warning("JWKS not fetched at start: %s", type(exc).__name__)
        tasks: list[asyncio.Task[Any]] = []
        if follow_people:
            with contextlib.suppress(Exception):
                async with app.state.sessionmaker() as session:
                    await not_before.load(session)
            if settings.feed_client_id:
                tasks.append(asyncio.create_task(app.state.follower.run_forever()))
        outbox: OutboxWorker | None = app.state.outbox
        if outbox is not None and settings.outbox_worker:
            tasks.append(asyncio.create_task(outbox.run_forever()))
        for hook in on_startup:
            await hook(app)
        if settings.gc_freeze:
            freeze_startup_objects()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if outbox is not None and settings.outbox_worker:
                await outbox.stop()
            for hook in on_shutdown:
                await hook(app)
            if follow_people:
                await app.state.follower.aclose()
            if app.state.feed_head is not None:
                await app.state.feed_head.aclose()
            await app.state.engine.dispose()

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        # No Swagger UI of its own: FastAPI's loads its files from a CDN and runs inline script
        # (SECURITY.md forbids both). The platform's one API page is the gateway's /docs, served
        # from the gateway itself (gateway/docs.py), on every service's document merged.
        docs_url=None,
        redoc_url=None,
        # Always: the gateway merges it (gateway/openapi.py); only the gateway is published.
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.clock = clock
    app.state.verifier = verifier
    app.state.not_before = not_before
    app.state.metrics = Metrics(settings.service_name)
    app.state.feed_head = (
        FeedHead(settings.people_feed_head_url, settings.people_feed_head_key)
        if settings.people_feed_head_url
        else None
    )
    if follow_people:
        app.state.follower = PeopleFollower(
            sessionmaker,
            identity_url=settings.identity_url,
            client_id=settings.feed_client_id,
            client_secret=settings.feed_client_secret.get_secret_value(),
            interval=settings.follow_interval_seconds,
            clock=clock,
            not_before=not_before,
            catch_up_seconds=settings.replica_catch_up_seconds,
            catch_up_max_pages=settings.replica_catch_up_max_pages,
            catch_up_min_interval=settings.replica_catch_up_min_interval_seconds,
            head=app.state.feed_head,
        )
    # The outbox worker, when the service has topics to deliver. It takes its sessions from
    # app.state.sessionmaker when it runs (tests put theirs there).
    app.state.outbox = None
    if outbox_handlers:
        app.state.outbox = OutboxWorker(
            lambda: app.state.sessionmaker(),
            {topic: make(app) for topic, make in outbox_handlers.items()},
            clock=clock,
            policy=RetryPolicy(
                first_delay=timedelta(seconds=settings.outbox_retry_first_seconds),
                max_delay=timedelta(seconds=settings.outbox_retry_max_seconds),
                retry_for=timedelta(hours=settings.outbox_retry_hours),
            ),
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_seconds,
        )
    session_info: dict[str, Any] = {}
    if follow_people:
        # Every session knows the follower, so `servicekit.replica.confirmed` can catch up on a miss.
        session_info[FOLLOWER_KEY] = app.state.follower
    if app.state.feed_head is not None:
        # Identity's writes announce the feed numbers they take (identity.changes.record_change).
        session_info[FEED_HEAD_KEY] = app.state.feed_head
    if app.state.outbox is not None:
        # A commit that wrote to the outbox wakes this process's worker at once.
        session_info[WAKE_KEY] = app.state.outbox.wake
    if session_info:
        sessionmaker.configure(info=session_info)

    install_error_handlers(app)
    install_problem_openapi(app)
    app.include_router(health_router())
    if follow_people:
        app.include_router(replica_router())
    for router in routers:
        app.include_router(router)

    # Added innermost first: auth runs inside CORS, which runs inside the request context.
    app.add_middleware(AuthMiddleware, verifier=lambda: app.state.verifier)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Request-ID"],
            expose_headers=["ETag", "Link", "X-Request-ID", "X-Next-Cursor", "X-Has-More"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        max_body_bytes=settings.max_body_bytes,
        trusted_proxies=settings.trusted_proxies,
    )
    return app
