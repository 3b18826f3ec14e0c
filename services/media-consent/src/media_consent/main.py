"""The media-consent service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from media_consent import keys
from media_consent.checks.router import router as checks_router
from media_consent.config import MediaConsentSettings
from media_consent.consent.router import router as consent_router
from media_consent.restriction.router import router as restriction_router
from media_consent.scans.router import router as scans_router
from servicekit.app import create_service_app
from servicekit.auth import KeySource
from servicekit.clock import Clock

ROUTERS: list[APIRouter] = [consent_router, checks_router, restriction_router, scans_router]
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


def create_app(
    settings: MediaConsentSettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or MediaConsentSettings()
    app = create_service_app(
        settings=settings,
        title="Media consent",
        description="Pupils' photo and video consent, the check before publishing, image metadata scans.",
        routers=ROUTERS,
        clock=clock,
        key_source=key_source,
        follow_people=True,
    )
    app.state.receipt_keys = keys.load_or_create(settings.keys_dir, app.state.clock)
    # Receipts name their own issuer, so nothing reading them could take one for an access token.
    app.state.receipt_issuer = settings.issuer.rstrip("/") + PREFIX
    app.add_middleware(NoStoreMiddleware)
    return app
