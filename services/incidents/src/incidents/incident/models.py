"""The incident log's tables: incidents, the people in them, their actions, evidence and history.

Only `incident` changes in place (its current state); everything else is appended. Every change
of an incident takes the next number of the "incidents" feed into `change_seq`, which the LA
export pages by.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incidents.base import Base
from servicekit.db import IdMixin, UTCDateTime


class Incident(IdMixin, Base):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("school_id", "reference"),
        Index("ix_incident_school_occurred", "school_id", "occurred_at"),
        # The export reads a school's changes in order from here.
        Index("ix_incident_school_seq", "school_id", "change_seq"),
    )

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reference: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    location: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_by_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    reported_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    change_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    retention_class: Mapped[str] = mapped_column(String(20))
    review_on: Mapped[date] = mapped_column(Date)
    has_legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    legal_hold_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    people: Mapped[list[IncidentPerson]] = relationship(
        back_populates="incident", lazy="selectin", order_by="IncidentPerson.added_at"
    )


# Feed numbers per block of `IncidentSeqBucket`.
SEQ_BUCKET = 8192


class IncidentSeqBucket(Base):
    """How many of a school's incidents have their latest change in each block of `SEQ_BUCKET`
    feed numbers (`bucket` = change_seq // SEQ_BUCKET), kept in the transaction of every change.

    So the LA export's `X-Remaining` (the changes left after a page) is a sum of a few of these
    rows and a count within one block, not a count of every change left: at LA size that count
    grew with the LA's history and cost most of a page's extra time (docs/benchmarks.md).
    """

    __tablename__ = "incident_seq_bucket"

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incidents: Mapped[int] = mapped_column(Integer)


class IncidentPerson(IdMixin, Base):
    """A person in an incident with their role; the pupil's year group is kept as it was then."""

    __tablename__ = "incident_person"
    __table_args__ = (UniqueConstraint("incident_id", "person_id", "role"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    role: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    year_group: Mapped[str | None] = mapped_column(String(2))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="people")


class IncidentAction(IdMixin, Base):
    """One entry of an incident's chronology: a note, a sanction, a referral decision, ..."""

    __tablename__ = "incident_action"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id"), index=True)
    # The incident's change number when this was added: orders entries recorded at the same moment.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    sanction: Mapped[str | None] = mapped_column(String(30))
    access_removed_until: Mapped[date | None] = mapped_column(Date)
    referred_to: Mapped[str | None] = mapped_column(String(40))
    decision: Mapped[str | None] = mapped_column(String(20))
    rationale: Mapped[str | None] = mapped_column(Text)
    police_reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class Evidence(IdMixin, Base):
    """An entry of the evidence register: what, where it is kept, by whom. Appended, never changed."""

    __tablename__ = "evidence"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(1000))
    stored_at: Mapped[str] = mapped_column(String(300))
    held_by: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    is_device_secured: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_to_police_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    police_reference: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))


class IncidentHistory(IdMixin, Base):
    """Every change of an incident: who, when, what changed (field: [before, after])."""

    __tablename__ = "incident_history"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
