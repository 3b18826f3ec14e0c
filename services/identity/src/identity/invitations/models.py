"""The invitation table: a single-use code the office gives a carer, to make their parent account."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class Invitation(IdMixin, Base):
    """Pending until used, revoked or past `expires_at`; the code itself is kept only as SHA-256."""

    __tablename__ = "invitation"

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    carer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # Where the account's reset codes go once the carer has accepted (optional).
    email: Mapped[str | None] = mapped_column(String(254))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)

    def status_at(self, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"
