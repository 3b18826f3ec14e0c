"""Agreement versions (appended per school and audience) and signatures (appended, never changed)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class AgreementVersion(IdMixin, Base):
    """One published text of a school's acceptable-use agreement for one audience."""

    __tablename__ = "agreement_version"
    __table_args__ = (UniqueConstraint("school_id", "audience", "number"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    audience: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(200))


class AgreementSignature(IdMixin, Base):
    """A person's signature of one version, by themselves or by a parent on a KS1 pupil's behalf."""

    __tablename__ = "agreement_signature"
    __table_args__ = (UniqueConstraint("version_id", "person_id"),)

    version_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agreement_version.id"))
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"), index=True)
    signed_by_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
