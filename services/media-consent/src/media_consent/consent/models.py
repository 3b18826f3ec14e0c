"""Consent tables: every version of a pupil's consent (appended), the current state beside it, and
the change feed the MLE follows."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from media_consent.models import Base
from servicekit.db import IdMixin, UTCDateTime


class ConsentVersion(IdMixin, Base):
    """One version of a pupil's consent: a form recorded, or a withdrawal. Never changed."""

    __tablename__ = "consent_version"
    __table_args__ = (UniqueConstraint("pupil_id", "version"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    # "recorded" (a form, on paper or from a parent online) or "withdrawn".
    kind: Mapped[str] = mapped_column(String(20))
    # The whole consent after this version: {"<purpose>/<media_type>": level} for every pair.
    grants: Mapped[dict[str, str]] = mapped_column(JSON)
    # Purposes withdrawn by this version (a withdrawal), or still withdrawn (a later version keeps none).
    withdrawn_purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    valid_until: Mapped[date | None] = mapped_column(Date)
    given_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    # "paper_form" (entered by the office or the head) or "parent" (a parent signed in).
    source: Mapped[str] = mapped_column(String(20))
    form_dated_on: Mapped[date | None] = mapped_column(Date)
    collected_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentCurrent(Base):
    """The latest version of each pupil's consent, kept beside the history for the check's one read."""

    __tablename__ = "consent_current"

    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    version: Mapped[int] = mapped_column(Integer)
    grants: Mapped[dict[str, str]] = mapped_column(JSON)
    withdrawn_purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsentChange(IdMixin, Base):
    """An entry of the change feed the MLE follows (a consent recorded or withdrawn, a pupil restricted)."""

    __tablename__ = "consent_change"
    __table_args__ = (Index("ix_consent_change_school_seq", "school_id", "change_seq"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    change_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
