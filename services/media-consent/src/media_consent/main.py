"""The media-consent service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from media_consent import keys
from media_consent.alerts import JOBS
from media_consent.checks import pg
from media_consent.checks.router import router as checks_router
from media_consent.checks.store import SessionCheckStore
from media_consent.config import MediaConsentSettings
from media_consent.consent.router import router as consent_router
from media_consent.restriction.router import router as restriction_router
from media_consent.scans.budget import DecodeBudget
from media_consent.scans.router import router as scans_router
from media_consent.webhooks import delivery as webhook_delivery
from media_consent.webhooks import expiry as webhook_expiry
from media_consent.webhooks import service as webhook_service
from media_consent.webhooks.router import router as webhooks_router
from servicekit import outbound
from servicekit.alerts import (
    ALERT_TOPIC,
    alert_scheduler,
    alerts_handler,
    alerts_router,
    start_scheduler,
    stop_scheduler,
)
from servicekit.app import create_service_app
from servicekit.audit import audit_router
from servicekit.auth import KeySource
from servicekit.clock import Clock
from servicekit.migrations import service_dir_for

ROUTERS: list[APIRouter] = [
    # The consent check first: routes are matched in order, and the check is the service's hot path
    # (measured: about 30 µs of CPU a check, 3%, when it came after the consent routes). Its paths
    # have no parameters, so it takes no other route's requests.
    checks_router,
    alerts_router("/v1/media-consent"),  # the caller's own alerts
    # First, so no '{id}' route takes 'audit' for an id. The log names sensitive records
    # (searches, never-publish flags, restricted incidents), so only the head teacher reads it.
    audit_router("/v1/media-consent/audit", school_roles=("head_teacher",)),
    consent_router,
    restriction_router,
    scans_router,
    webhooks_router,
]
PREFIX = "/v1/media-consent"


class NoStoreMiddleware:
    """Consent answers are never cached anywhere (SECURITY.md): `Cache-Control: no-store` on every
    response of the service's API, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


async def open_check_pool(app: FastAPI) -> None:
    """On PostgreSQL, the consent check's store is its own asyncpg pool (its hot path, checks/pg.py)."""
    settings: MediaConsentSettings = app.state.settings
    if pg.is_postgresql(settings.database_url):
        pool = await pg.open_pool(settings.database_url, settings.check_pool_size)
        app.state.check_store = pg.PgCheckStore(pool)


async def close_check_pool(app: FastAPI) -> None:
    store = app.state.check_store
    if isinstance(store, pg.PgCheckStore):
        app.state.check_store = SessionCheckStore(app.state)
        await store.pool.close()


def create_app(
    settings: MediaConsentSettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or MediaConsentSettings()
    app = create_service_app(
        migrations_dir=service_dir_for(__file__),
        settings=settings,
        title="Media consent",
        description="Pupils' photo and video consent, the check before publishing, image metadata scans.",
        routers=ROUTERS,
        clock=clock,
        key_source=key_source,
        follow_people=True,
        on_startup=[open_check_pool, start_scheduler, webhook_expiry.start],
        on_shutdown=[webhook_expiry.stop, stop_scheduler, close_check_pool, webhook_delivery.close_client],
        outbox_handlers={
            webhook_service.TOPIC: webhook_delivery.make_handler,
            ALERT_TOPIC: alerts_handler(),
        },
    )
    alert_scheduler(app, JOBS)
    # Where webhook targets resolve (tests put their own resolver here).
    app.state.webhook_resolver = outbound.system_resolver(use_dns=settings.webhook_resolve_dns)
    # The consent check's store (checks/store.py): the app's sessions, as on SQLite and in the
    # in-process tests (whose sessions are rolled back), until start-up opens PostgreSQL's own pool.
    app.state.check_store = SessionCheckStore(app.state)
    app.state.decode_budget = DecodeBudget(settings.scan_decode_budget_pixels)
    app.state.receipt_keys = keys.load_or_create(settings.keys_dir, app.state.clock)
    # Receipts name their own issuer, so nothing reading them could take one for an access token.
    app.state.receipt_issuer = settings.issuer.rstrip("/") + PREFIX
    app.add_middleware(NoStoreMiddleware)
    return app
