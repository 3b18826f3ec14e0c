"""Where a member of staff's alerts go: their address and preferences (servicekit.alerts)."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from sqlalchemy import Boolean, ForeignKey, String, Time, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import UTCDateTime


class AlertContact(Base):
    """One person's alert address, quiet hours and digest choice. Identity alone holds addresses:
    services ask for them at delivery (`POST /internal/alert-contacts`), they keep no copy."""

    __tablename__ = "alert_contact"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("person.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    quiet_hours_start: Mapped[time | None] = mapped_column(Time)
    quiet_hours_end: Mapped[time | None] = mapped_column(Time)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
