"""Sending one webhook delivery: the outbox worker's handler for `webhook.delivery`.

Each attempt: the webhook is read (ended: the delivery is dropped), its target checked again (a name
may now resolve to a private address: nothing is sent), the body signed per Standard Webhooks with
every secret that signs now (after a rotation, both), and POSTed to the checked address with short
timeouts and no redirects. A 2xx is delivered; anything else is a failed attempt, which the outbox
retries with back-off (honouring a 429/503's `Retry-After`) with the same `webhook-id`. Every
attempt is recorded, without the body. No session is open while the request is in flight.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook as Signer

from media_consent.webhooks import service
from media_consent.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from media_consent.webhooks.schemas import message_id
from servicekit import outbound
from servicekit.outbox import GiveUp, Handler, Message, Retry

MAX_RETRY_AFTER = timedelta(hours=1)


def body_bytes(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.body, separators=(",", ":"), sort_keys=True).encode()


def make_handler(app: FastAPI) -> Handler:
    async def deliver(message: Message) -> None:
        state = app.state
        settings = state.settings
        clock = state.clock
        delivery_id = uuid.UUID(message.payload["delivery_id"])
        async with state.sessionmaker() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            webhook = await session.get(Webhook, delivery.webhook_id) if delivery is not None else None
        # (closing the session ended its transaction and left both rows loaded, detached)
        if delivery is None or webhook is None or not webhook.is_active:
            raise GiveUp("the webhook was ended")
        started = time.perf_counter()
        now = clock.now()
        status_code: int | None = None
        error: str | None = None
        retry_after: timedelta | None = None
        try:
            target = await outbound.check(
                webhook.url,
                resolver=state.webhook_resolver,
                allow_loopback=bool(settings.webhook_allow_loopback),
            )
            body = body_bytes(delivery)
            msg_id = message_id(delivery.id)
            signature = " ".join(
                Signer(secret).sign(msg_id, now, body.decode())
                for secret in service.signing_secrets(webhook, now)
            )
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
                "User-Agent": "esafety-platform-webhooks/1",
            }
            response = await outbound.post(webhook_client(app), target, body=body, headers=headers)
            status_code = response.status_code
            if 300 <= status_code < 400:
                error = "redirect not followed"
            elif status_code in (429, 503):
                retry_after = _retry_after(response)
        except outbound.TargetRefused as exc:
            error = f"target refused: {exc}"[:200]
        except httpx.TimeoutException:
            error = "timed out"
        except httpx.HTTPError as exc:
            error = f"connection failed: {type(exc).__name__}"
        async with state.sessionmaker() as session:
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    attempted_at=now,
                    status_code=status_code,
                    error=error,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                )
            )
            await session.commit()
        if status_code is not None and 200 <= status_code < 300:
            return
        raise Retry(error or f"answered {status_code}", after=retry_after)

    return deliver


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "")
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    return None


def webhook_client(app: FastAPI) -> httpx.AsyncClient:
    client: httpx.AsyncClient | None = getattr(app.state, "webhook_client", None)
    if client is None or client.is_closed:
        settings = app.state.settings
        client = outbound.client(
            connect_timeout=settings.webhook_connect_timeout_seconds, timeout=settings.webhook_timeout_seconds
        )
        app.state.webhook_client = client
    return client


async def close_client(app: FastAPI) -> None:
    client: httpx.AsyncClient | None = getattr(app.state, "webhook_client", None)
    if client is not None:
        await client.aclose()
