"""The record of every consent check: who asked, about which pupils, for what, and the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from media_consent.models import Base
from servicekit.db import IdMixin, UTCDateTime


class ConsentCheck(IdMixin, Base):
    __tablename__ = "consent_check"
    __table_args__ = (Index("ix_consent_check_school_checked", "school_id", "checked_at"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    actor: Mapped[str] = mapped_column(String(200))
    # "check" (POST /checks) or "group_photo_view" (a teacher's year-group view).
    source: Mapped[str] = mapped_column(String(30))
    purpose: Mapped[str] = mapped_column(String(20))
    media_type: Mapped[str] = mapped_column(String(10))
    framing: Mapped[str] = mapped_column(String(12))
    pupil_ids: Mapped[list[str]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(8))
    # [{"pupil_id", "decision", "reason"}] as answered.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(128))
