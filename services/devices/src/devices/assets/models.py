"""School-owned hardware: the inventory, loans to staff, anti-virus scans and disposals."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from devices.base import Base
from servicekit.db import IdMixin, UTCDateTime


class Asset(IdMixin, Base):
    """One item of school hardware (the hardware inventory the policy asks for)."""

    __tablename__ = "asset"
    __table_args__ = (
        UniqueConstraint("school_id", "asset_tag"),
        Index("ix_asset_school_serial", "school_id", "serial_number"),
        Index("ix_asset_school_status", "school_id", "status"),
    )

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    asset_tag: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(30))
    make: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(200))
    holds_personal_data: Mapped[bool] = mapped_column(Boolean)
    is_encrypted: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    purchased_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    last_clean_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class AssetLoan(IdMixin, Base):
    """A take-home loan of school equipment to a member of staff."""

    __tablename__ = "asset_loan"
    __table_args__ = (Index("ix_asset_loan_school_open", "school_id", "returned_at", "due_on"),)

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset.id"), index=True)
    borrower_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    purpose: Mapped[str | None] = mapped_column(String(500))
    lent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lent_by: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[str | None] = mapped_column(String(200))
    return_note: Mapped[str | None] = mapped_column(Text)


class AssetScan(IdMixin, Base):
    """An anti-virus / spyware scan before equipment connects to the network. Appended."""

    __tablename__ = "asset_scan"

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset.id"), index=True)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tool: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssetDisposal(IdMixin, Base):
    """A WEEE disposal through an authorised agency, with its receipt and data destruction."""

    __tablename__ = "asset_disposal"

    school_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset.id"), unique=True)
    disposed_on: Mapped[date] = mapped_column(Date)
    agency: Mapped[str] = mapped_column(String(200))
    receipt_reference: Mapped[str] = mapped_column(String(100))
    data_destruction: Mapped[str] = mapped_column(String(30))
    certificate_reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
