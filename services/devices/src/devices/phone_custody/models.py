"""Pupil phones in the school's custody, their chain of custody (appended) and their searches."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from devices.base import Base
from servicekit.db import IdMixin, UTCDateTime


class PhoneCustody(IdMixin, Base):
    """One phone handed in or confiscated; its state is kept here, its history in the events."""

    __tablename__ = "phone_custody"
    __table_args__ = (
        Index("ix_phone_custody_school_status", "school_id", "status", "kind"),
        Index("ix_phone_custody_school_received", "school_id", "received_at", "id"),
    )

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    storage_location: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_to_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Bumped by every step, with a conditional UPDATE that also serialises concurrent steps.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    events: Mapped[list[PhoneCustodyEvent]] = relationship(
        back_populates="custody", order_by="PhoneCustodyEvent.position", lazy="raise"
    )


class PhoneCustodyEvent(IdMixin, Base):
    """A step in a phone's chain of custody: who, when, where. Appended, never changed."""

    __tablename__ = "phone_custody_event"
    __table_args__ = (UniqueConstraint("custody_id", "position"),)

    custody_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("phone_custody.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    to_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    note: Mapped[str | None] = mapped_column(Text)

    custody: Mapped[PhoneCustody] = relationship(back_populates="events")


class PhoneSearch(IdMixin, Base):
    """A search of a held phone, authorised by the head teacher. Seen only by the head and the DSL."""

    __tablename__ = "phone_search"

    custody_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("phone_custody.id"), index=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    authorised_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    searched_by: Mapped[str] = mapped_column(String(200))
    searched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(30))
    findings: Mapped[str | None] = mapped_column(Text)
