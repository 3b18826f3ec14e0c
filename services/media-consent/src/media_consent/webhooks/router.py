"""Webhooks for the MLE (CONTRACT.md "Webhooks (the MLE)"): register, list, end, rotate the secret,
the deliveries and their replay. Deliveries are signed per Standard Webhooks (docs/webhooks.md)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from media_consent.webhooks import service
from media_consent.webhooks.dependencies import ValidWebhook, WebhooksPrincipal
from media_consent.webhooks.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool
from servicekit.db import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link

router = APIRouter(prefix="/v1/media-consent/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookCreated)
async def register_webhook(
    body: WebhookCreate,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: WebhooksPrincipal,
    school_id: CallerSchool,
    idem: IdempotencyDep,
) -> Response:
    """Register a target for consent events; the `secret` is shown this once.

    A retry with the same `Idempotency-Key` gets the same webhook without its secret (secrets are
    not stored in clear in the idempotency table): rotate the secret if the first answer was lost.
    """
    if idem.replay is not None:
        return idem.replay
    settings = request.app.state.settings
    webhook, secret = await service.register(
        session,
        school_id=school_id,
        body=body,
        actor=principal,
        now=clock.now(),
        resolver=request.app.state.webhook_resolver,
        allow_loopback=bool(settings.webhook_allow_loopback),
        max_per_school=settings.webhook_max_per_school,
    )
    await idem.respond(WebhookCreated.of(webhook, secret=None), status_code=201)
    return Response(
        WebhookCreated.of(webhook, secret=secret).model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("", response_model=list[WebhookRead])
async def list_webhooks(
    session: SessionDep, principal: WebhooksPrincipal, school_id: CallerSchool
) -> list[WebhookRead]:
    """Your school's webhooks (never their secrets)."""
    return [WebhookRead.model_validate(w) for w in await service.listed(session, school_id)]


@router.delete("/{webhook_id}", status_code=204)
async def end_webhook(session: SessionDep, clock: ClockDep, access: ValidWebhook) -> Response:
    """End a webhook: nothing more is sent to it."""
    await service.end(session, webhook=access.webhook, actor=access.principal, now=clock.now())
    return Response(status_code=204)


@router.post("/{webhook_id}/secret", status_code=201, response_model=WebhookCreated)
async def rotate_webhook_secret(
    request: Request, session: SessionDep, clock: ClockDep, access: ValidWebhook
) -> WebhookCreated:
    """A new secret, shown this once; the previous one signs too until `previous_secret_until`."""
    hours = request.app.state.settings.webhook_secret_overlap_hours
    secret = await service.rotate(
        session,
        webhook=access.webhook,
        actor=access.principal,
        now=clock.now(),
        overlap=timedelta(hours=hours),
    )
    return WebhookCreated.of(access.webhook, secret=secret)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    request: Request,
    response: Response,
    session: SessionDep,
    access: ValidWebhook,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[DeliveryRead]:
    """The webhook's deliveries, newest first, each with its status and every attempt."""
    items, next_cursor = await service.deliveries(session, webhook=access.webhook, limit=limit, before=cursor)
    set_next_link(request, response, next_cursor)
    return Page[DeliveryRead](items=items, next_cursor=next_cursor)


@router.post("/{webhook_id}/deliveries/{delivery_id}/replay", status_code=202, response_model=DeliveryRead)
async def replay_delivery(
    delivery_id: uuid.UUID, session: SessionDep, clock: ClockDep, access: ValidWebhook
) -> DeliveryRead:
    """Send a delivery again now (the same `webhook-id`; a dead one gets a new 24 hours of retries)."""
    return await service.replay(
        session, webhook=access.webhook, delivery_id=delivery_id, actor=access.principal, now=clock.now()
    )
