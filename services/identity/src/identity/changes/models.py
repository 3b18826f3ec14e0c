"""The people change feed's table: one row per (kind, entity), carrying its latest change number."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class PeopleChange(IdMixin, Base):
    __tablename__ = "people_change"
    __table_args__ = (UniqueConstraint("kind", "entity_id"),)

    kind: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    change_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
