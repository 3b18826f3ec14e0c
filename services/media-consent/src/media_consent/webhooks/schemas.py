"""Webhooks' request and response bodies (CONTRACT.md "Webhooks (the MLE)")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field

from media_consent.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

EventType = Literal["consent.withdrawn", "consent.restricted", "consent.changed", "consent.expired"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
DeliveryStatus = Literal["pending", "delivered", "dead"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8,
        max_length=2000,
        description="An https URL on a public address (development also allows loopback).",
        examples=["https://mle.example.org/hooks/consent"],
    )
    events: list[EventType] = Field(min_length=1, max_length=4)


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[EventType]
    created_at: datetime
    previous_secret_until: datetime | None = Field(
        default=None, description="Until then the previous secret signs each delivery too (after a rotation)."
    )


class WebhookCreated(WebhookRead):
    secret: str | None = Field(
        description="`whsec_...`: shown this once. Verify deliveries with it (Standard Webhooks). "
        "Null in the answer replayed for a retried Idempotency-Key."
    )

    @classmethod
    def of(cls, webhook: Webhook, *, secret: str | None) -> Self:
        return cls.model_validate({**WebhookRead.model_validate(webhook).model_dump(), "secret": secret})


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None = Field(
        description="The receiver's answer; none when nothing was sent or answered."
    )
    error: str | None
    duration_ms: int


class DeliveryRead(BaseModel):
    id: uuid.UUID
    webhook_message_id: str = Field(
        description="The `webhook-id` header: the same at every attempt and replay."
    )
    type: EventType
    created_at: datetime
    status: DeliveryStatus
    next_attempt_at: datetime | None
    attempts: list[AttemptRead]

    @classmethod
    def of(
        cls,
        delivery: WebhookDelivery,
        *,
        status: str,
        next_attempt_at: datetime | None,
        attempts: list[WebhookAttempt],
    ) -> Self:
        return cls(
            id=delivery.id,
            webhook_message_id=message_id(delivery.id),
            type=delivery.event_type,
            created_at=delivery.created_at,
            status=status,
            next_attempt_at=next_attempt_at if status == "pending" else None,
            attempts=[AttemptRead.model_validate(a) for a in attempts],
        )


def message_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"
