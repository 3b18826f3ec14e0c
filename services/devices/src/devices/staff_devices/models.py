"""The register of staff and visitor devices, the head's permissions to take images on them, and each use."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from devices.base import Base
from servicekit.db import IdMixin, UTCDateTime


class StaffDevice(IdMixin, Base):
    """A personally-owned phone, camera, tablet or laptop noted in school (name, make, model, serial)."""

    __tablename__ = "staff_device"
    __table_args__ = (Index("ix_staff_device_school_status", "school_id", "status"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    make: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    serial_number: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    noted_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(200))
    removal_reason: Mapped[str | None] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImagePermission(IdMixin, Base):
    """The head's consent to take images on a device, or its withdrawal. Appended, never changed."""

    __tablename__ = "image_permission"
    __table_args__ = (UniqueConstraint("device_id", "position"),)

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_device.id"), index=True)
    # The device's version after this decision: orders decisions recorded in the same second.
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purpose: Mapped[str | None] = mapped_column(Text)


class ImageUse(IdMixin, Base):
    """One occasion images were taken on a permitted device (the policy: such use is recorded).

    Appended, never changed: it is the evidence that the use was monitored.
    """

    __tablename__ = "image_use"
    __table_args__ = (Index("ix_image_use_school_taken_on", "school_id", "taken_on"),)

    # Kept on the row (not only on the device) so the head's school-wide view is one indexed read.
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_device.id"), index=True)
    # The grant in force on `taken_on`: which of the head's decisions allowed this use.
    permission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("image_permission.id"))
    taken_on: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(String(500))
    pupils_count: Mapped[int | None] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImageUseDeletion(IdMixin, Base):
    """The owner's (or the head's) confirmation that an image use's images were downloaded and deleted
    from the device in school (the policy: "before the end of the day"). Appended, once per use."""

    __tablename__ = "image_use_deletion"

    image_use_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("image_use.id"), unique=True)
    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    confirmed_by: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime)
