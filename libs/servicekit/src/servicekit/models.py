"""The tables servicekit keeps in every service's database.

Each service's alembic environment targets both its own metadata and `KitBase.metadata`, so these
tables are created by that service's migrations like its own.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.db import IdMixin, KitBase, UTCDateTime


class AuditEntry(IdMixin, KitBase):
    """Who did what, when, from where, under which request. Appended, never changed."""

    __tablename__ = "audit_entry"

    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100), index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyRecord(IdMixin, KitBase):
    """The first response to a POST with an Idempotency-Key, replayed for the same key and body."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    owner: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedCounter(KitBase):
    """One counter per change feed; taking the next value locks it until commit (see feeds.py)."""

    __tablename__ = "feed_counter"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class FollowerState(KitBase):
    """Where a replica follower is in the feed it follows."""

    __tablename__ = "follower_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(500))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReplicaSchool(KitBase):
    __tablename__ = "replica_school"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    urn: Mapped[str | None] = mapped_column(String(20))
    la_code: Mapped[str | None] = mapped_column(String(10), index=True)


class ReplicaPerson(KitBase):
    """A person as identity last described them (pupils, staff, carers...)."""

    __tablename__ = "replica_person"
    __table_args__ = (Index("ix_replica_person_school_kind", "school_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(20))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    year_group: Mapped[str | None] = mapped_column(String(2))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    external_ref: Mapped[str | None] = mapped_column(String(50))
    is_on_roll: Mapped[bool] = mapped_column(Boolean, default=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)


class ReplicaCarerLink(KitBase):
    """A carer's link to a pupil, with whether the carer has parental responsibility."""

    __tablename__ = "replica_carer_link"
    __table_args__ = (Index("ix_replica_carer_link_pupil", "pupil_id", "carer_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    carer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    relationship: Mapped[str] = mapped_column(String(50))
    has_parental_responsibility: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReplicaAccount(KitBase):
    """An account's "not before": tokens issued earlier are refused (password change, lock, leaver)."""

    __tablename__ = "replica_account"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffAlert(IdMixin, KitBase):
    """One alert for one member of staff (servicekit.alerts): the in-app alert and its e-mail's state.

    Written in the same transaction as the change that causes it; the sender delivers it at least
    once. It holds no content: a kind, and the record it points at (shown only to whoever may see it).
    """

    __tablename__ = "staff_alert"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "period_key"),
        Index("ix_staff_alert_status_due", "status", "due_at"),
    )

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    # What makes it one alert: the record (an incident's id) or the period (a day, an ISO week).
    period_key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending (to e-mail), sent, in_app (no address: shown in the console only), withdrawn (the
    # person may no longer see its record), failed (the relay refused it for good).
    status: Mapped[str] = mapped_column(String(20))
    is_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduledRun(KitBase):
    """A scheduled job's period that has run (servicekit.alerts.Scheduler): once, whatever the workers."""

    __tablename__ = "scheduled_run"

    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(KitBase):
    """A message that must reach someone (a webhook, an alert e-mail), written in the transaction of
    the change that causes it and delivered at least once by the outbox worker (servicekit.outbox).

    `status`: `pending` until delivered (`delivered`), or `dead` once retries have run out. A worker
    holds a pending message while `locked_until` is in the future; one that dies holding it lets
    the lease run out, and the next worker takes the message again.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "available_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When it was (re)queued: the retry window runs from here (a replay starts a new one).
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
