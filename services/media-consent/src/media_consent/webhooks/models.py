"""Webhooks the MLE registers, the deliveries made to them (one per event and webhook, whose state
is its outbox message's: servicekit.outbox), and every attempt of each."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from media_consent.models import Base
from servicekit.db import IdMixin, UTCDateTime


class Webhook(IdMixin, Base):
    """A school's registered target. The secrets sign deliveries, so they are kept (never shown again
    after registration or rotation); after a rotation the previous secret signs too until
    `previous_secret_until`."""

    __tablename__ = "webhook"
    __table_args__ = (Index("ix_webhook_school_active", "school_id", "is_active"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event for one webhook. Its id is its outbox message's id; `webhook-id` is `msg_<id hex>`,
    the same at every attempt and replay."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_webhook_created", "webhook_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(50))
    # The JSON body, as sent at every attempt: {type, timestamp, data: {school_id, pupil_id, seq, ...}}.
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(IdMixin, Base):
    """One attempt of a delivery: the receiver's status code, or why nothing was sent or answered."""

    __tablename__ = "webhook_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)


class ConsentExpiryNotice(Base):
    """That a pupil's consent version passed its `valid_until` and webhooks were told (once each)."""

    __tablename__ = "consent_expiry_notice"

    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime)
