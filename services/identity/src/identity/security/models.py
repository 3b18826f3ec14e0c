"""The sign-in throttle's counters in the database, shared by every identity replica (no Redis)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import UTCDateTime


class ThrottleCounter(Base):
    """One throttled key (`account:...`, `pair:...`, `source:...`, `client:...`): the attempts of
    its current window not yet released by a success, and its back-off.
    """

    __tablename__ = "signin_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
