"""The school table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class School(IdMixin, Base):
    __tablename__ = "school"

    name: Mapped[str] = mapped_column(String(200))
    # DfE Unique Reference Number (6 digits) and local-authority code (3 digits).
    urn: Mapped[str] = mapped_column(String(6), unique=True)
    la_code: Mapped[str] = mapped_column(String(3), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
