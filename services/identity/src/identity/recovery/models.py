"""The password_reset_code table: single-use codes that set a new password (kept as SHA-256)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class PasswordResetCode(IdMixin, Base):
    __tablename__ = "password_reset_code"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # "email" (asked for on the reset page, sent to the account's address) or "office" (handed over).
    channel: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A newer code for the account ends the older ones, and so does using one.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
