"""The never-publish flag: a pupil whose image must never be published, whatever the consent says."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from media_consent.models import Base
from servicekit.db import UTCDateTime


class NeverPublish(Base):
    """One row per pupil ever flagged; setting and clearing are audited. No reason is stored here."""

    __tablename__ = "never_publish"

    pupil_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_by: Mapped[str | None] = mapped_column(String(200))
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
