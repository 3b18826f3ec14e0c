"""Webhooks: registration, rotation, the deliveries list and replay, and `publish`, which a consent
change calls in its own transaction: one delivery per webhook of the school that wants the event,
each an outbox message (servicekit.outbox), so what is committed is delivered at least once.

Plain functions taking the request's session: they flush, never commit.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from media_consent.webhooks.schemas import DeliveryRead, WebhookCreate
from servicekit import audit, outbound, outbox
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.models import OutboxMessage

TOPIC = "webhook.delivery"
# The consent change feed's kinds -> the event a webhook hears.
EVENT_OF_KIND = {
    "withdrawn": "consent.withdrawn",
    "restricted": "consent.restricted",
    "recorded": "consent.changed",
}


class WebhookNotFound(NotFound):
    slug = "webhook-not-found"

    def __init__(self) -> None:
        super().__init__("No such webhook in your school.")


class DeliveryNotFound(NotFound):
    slug = "delivery-not-found"

    def __init__(self) -> None:
        super().__init__("No such delivery of this webhook.")


class TargetRefused(Unprocessable):
    slug = "webhook-target-refused"


class TooManyWebhooks(Conflict):
    slug = "too-many-webhooks"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def register(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    body: WebhookCreate,
    actor: Principal,
    now: datetime,
    resolver: outbound.Resolver,
    allow_loopback: bool,
    max_per_school: int,
) -> tuple[Webhook, str]:
    try:
        await outbound.check(body.url, resolver=resolver, allow_loopback=allow_loopback)
    except outbound.TargetRefused as exc:
        raise TargetRefused(str(exc), extra={"errors": [{"field": "body.url", "message": str(exc)}]}) from exc
    count = await session.scalar(
        select(func.count()).select_from(Webhook).where(Webhook.school_id == school_id, Webhook.is_active)
    )
    if (count or 0) >= max_per_school:
        raise TooManyWebhooks(f"A school has at most {max_per_school} webhooks; end one first.")
    secret = new_secret()
    webhook = Webhook(
        school_id=school_id,
        url=body.url,
        events=sorted(set(body.events)),
        secret=secret,
        is_active=True,
        created_by=actor.actor,
        created_at=now,
    )
    session.add(webhook)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.registered",
        target_type="webhook",
        target_id=webhook.id,
        school_id=school_id,
        detail={"events": webhook.events},
        at=now,
    )
    return webhook, secret


async def listed(session: AsyncSession, school_id: uuid.UUID) -> list[Webhook]:
    rows = await session.scalars(
        select(Webhook)
        .where(Webhook.school_id == school_id, Webhook.is_active)
        .order_by(Webhook.created_at, Webhook.id)
    )
    return list(rows.all())


async def find(session: AsyncSession, school_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.school_id != school_id or not webhook.is_active:
        raise WebhookNotFound()
    return webhook


async def end(session: AsyncSession, *, webhook: Webhook, actor: Principal, now: datetime) -> None:
    """No more deliveries to it: pending ones are dropped at their next attempt."""
    webhook.is_active = False
    webhook.ended_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.ended",
        target_type="webhook",
        target_id=webhook.id,
        school_id=webhook.school_id,
        at=now,
    )


async def rotate(
    session: AsyncSession, *, webhook: Webhook, actor: Principal, now: datetime, overlap: timedelta
) -> str:
    """A new secret; the current one keeps signing beside it for `overlap` (both signatures sent)."""
    secret = new_secret()
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_until = now + overlap
    webhook.secret = secret
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.secret_rotated",
        target_type="webhook",
        target_id=webhook.id,
        school_id=webhook.school_id,
        at=now,
    )
    return secret


def signing_secrets(webhook: Webhook, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous during its overlap."""
    found = [webhook.secret]
    if webhook.previous_secret and webhook.previous_secret_until and now < webhook.previous_secret_until:
        found.append(webhook.previous_secret)
    return found


async def publish(
    session: AsyncSession, *, school_id: uuid.UUID, event_type: str, data: dict[str, Any], now: datetime
) -> list[WebhookDelivery]:
    """In the transaction of the change: a delivery (and its outbox message) per interested webhook."""
    hooks = await session.scalars(select(Webhook).where(Webhook.school_id == school_id, Webhook.is_active))
    made = []
    for webhook in hooks.all():
        if event_type not in webhook.events:
            continue
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            webhook_id=webhook.id,
            school_id=school_id,
            event_type=event_type,
            body={"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
            created_at=now,
        )
        session.add(delivery)
        await outbox.enqueue(
            session, TOPIC, {"delivery_id": str(delivery.id)}, now=now, message_id=delivery.id
        )
        made.append(delivery)
    if made:
        await session.flush()
    return made


async def deliveries(
    session: AsyncSession, *, webhook: Webhook, limit: int, before: uuid.UUID | None
) -> tuple[list[DeliveryRead], str | None]:
    """The webhook's deliveries, newest first, each with its state and attempts."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if before is not None:
        after = await session.get(WebhookDelivery, before)
        if after is None or after.webhook_id != webhook.id:
            return [], None
        stmt = stmt.where(
            (WebhookDelivery.created_at < after.created_at)
            | ((WebhookDelivery.created_at == after.created_at) & (WebhookDelivery.id < after.id))
        )
    rows = list(
        (
            await session.scalars(
                stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1)
            )
        ).all()
    )
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    rows = rows[:limit]
    return [await _read(session, d) for d in rows], next_cursor


async def _read(session: AsyncSession, delivery: WebhookDelivery) -> DeliveryRead:
    message = await session.get(OutboxMessage, delivery.id)
    attempts = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
    )
    return DeliveryRead.of(
        delivery,
        status=message.status if message is not None else "dead",
        next_attempt_at=message.available_at if message is not None else None,
        attempts=list(attempts.all()),
    )


async def replay(
    session: AsyncSession, *, webhook: Webhook, delivery_id: uuid.UUID, actor: Principal, now: datetime
) -> DeliveryRead:
    """Send a delivery again (the same `webhook-id`), with a fresh retry window."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise DeliveryNotFound()
    if await outbox.requeue(session, delivery.id, now=now) is None:
        await outbox.enqueue(
            session, TOPIC, {"delivery_id": str(delivery.id)}, now=now, message_id=delivery.id
        )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="webhook.delivery_replayed",
        target_type="webhook",
        target_id=webhook.id,
        school_id=webhook.school_id,
        detail={"delivery_id": str(delivery.id)},
        at=now,
    )
    return await _read(session, delivery)
