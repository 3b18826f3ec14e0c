"""The account table: a person's (or a platform administrator's / LA officer's) sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class Account(IdMixin, Base):
    """Platform administrators and LA officers belong to no school and have no person record
    (person_id and school_id are null); every other account belongs to a person of a school.
    """

    __tablename__ = "account"

    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("person.id"), index=True)
    school_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    # person_id again when the holder is a member of staff, else null: unique, so one person holds
    # at most one staff account (a person belongs to one school), and nobody mints a second
    # identity of a colleague to read around the incidents' visibility rule.
    staff_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    la_code: Mapped[str | None] = mapped_column(String(3))
    username: Mapped[str] = mapped_column(String(100))
    # Lower-cased username: sign-in names are case-insensitive and unique that way.
    username_key: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    # Where password-reset codes are sent (optional; lower-cased for look-up, not unique: a parent
    # who is also a governor may use one address for both accounts).
    email: Mapped[str | None] = mapped_column(String(254))
    email_key: Mapped[str | None] = mapped_column(String(254), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Tokens issued before this moment are refused (password change, lock, role change, leaver).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP seed, encrypted at rest; never returned after the response that created it.
    totp_seed_sealed: Mapped[str | None] = mapped_column(Text)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Visitors' accounts stop working at this moment (temporary access for short-term visitors).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def has_two_factor(self) -> bool:
        return self.totp_seed_sealed is not None
