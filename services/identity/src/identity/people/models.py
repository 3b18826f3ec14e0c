"""The person and carer_link tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class Person(IdMixin, Base):
    """Anyone the platform knows about in a school: pupil, staff, parent, governor or visitor."""

    __tablename__ = "person"
    __table_args__ = (
        # NULLs are distinct on SQLite and PostgreSQL, so people without a reference do not clash.
        UniqueConstraint("school_id", "external_ref"),
        Index("ix_person_school_kind", "school_id", "kind"),
    )

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    year_group: Mapped[str | None] = mapped_column(String(2))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    external_ref: Mapped[str | None] = mapped_column(String(50))
    is_on_roll: Mapped[bool] = mapped_column(Boolean, default=True)
    left_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class CarerLink(IdMixin, Base):
    """A carer's link to a pupil. Ended links are kept (is_active false), never deleted."""

    __tablename__ = "carer_link"
    __table_args__ = (Index("ix_carer_link_pupil_carer", "pupil_id", "carer_id"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"))
    carer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"), index=True)
    relationship: Mapped[str] = mapped_column(String(50))
    has_parental_responsibility: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
