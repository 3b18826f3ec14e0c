"""Request and response bodies of the hardware inventory: assets, loans, scans, disposals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from devices.assets.models import Asset, AssetLoan
from servicekit.params import IsoDate, Rfc3339

Text50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

AssetKind = Literal[
    "laptop",
    "desktop",
    "tablet",
    "phone",
    "camera",
    "interactive_display",
    "projector",
    "printer",
    "server",
    "network",
    "storage",
    "other",
]
AssetStatus = Literal["in_service", "on_loan", "in_repair", "lost", "disposed"]
# What PATCH may set; loans and disposals set the other two.
EditableStatus = Literal["in_service", "in_repair", "lost"]
ScanResult = Literal["clean", "threats_removed", "threats_found"]
DataDestruction = Literal["forensic_wipe", "physically_destroyed", "no_storage"]
LoanState = Literal["open", "overdue", "returned"]


class AssetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_tag: Text50
    kind: AssetKind
    make: Text100
    model: Text100
    serial_number: Text100 | None = None
    location: Text200
    holds_personal_data: bool
    is_encrypted: bool
    purchased_on: IsoDate | None = None
    notes: Text2000 | None = None


class AssetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AssetKind | None = None
    make: Text100 | None = None
    model: Text100 | None = None
    serial_number: Text100 | None = None
    location: Text200 | None = None
    holds_personal_data: bool | None = None
    is_encrypted: bool | None = None
    status: EditableStatus | None = None
    purchased_on: IsoDate | None = None
    notes: Text2000 | None = None


class AssetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    school_id: uuid.UUID
    asset_tag: str
    kind: AssetKind
    make: str
    model: str
    serial_number: str | None
    location: str
    holds_personal_data: bool
    is_encrypted: bool
    status: AssetStatus
    purchased_on: date | None
    notes: str | None
    last_clean_scan_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LoanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    borrower_id: uuid.UUID
    due_on: IsoDate
    purpose: Text500 | None = None


class LoanReturn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text2000 | None = None


class LoanRead(BaseModel):
    id: uuid.UUID
    asset_id: uuid.UUID
    asset_tag: str
    borrower_id: uuid.UUID
    purpose: str | None
    lent_at: datetime
    lent_by: str
    due_on: date
    returned_at: datetime | None
    received_by: str | None
    return_note: str | None
    is_overdue: bool

    @classmethod
    def of(cls, loan: AssetLoan, *, asset_tag: str, today: date) -> LoanRead:
        """Needs the asset's tag (another row) and `today`: `is_overdue` is `due_on` against the day."""
        return cls(
            id=loan.id,
            asset_id=loan.asset_id,
            asset_tag=asset_tag,
            borrower_id=loan.borrower_id,
            purpose=loan.purpose,
            lent_at=loan.lent_at,
            lent_by=loan.lent_by,
            due_on=loan.due_on,
            returned_at=loan.returned_at,
            received_by=loan.received_by,
            return_note=loan.return_note,
            is_overdue=loan.returned_at is None and loan.due_on < today,
        )


class ScanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scanned_at: Rfc3339
    tool: Text100
    result: ScanResult
    detail: Text2000 | None = None


class ScanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    asset_id: uuid.UUID
    scanned_at: datetime
    tool: str
    result: ScanResult
    detail: str | None
    recorded_by: str
    recorded_at: datetime


class StaleScanRead(BaseModel):
    asset: AssetRead
    last_clean_scan_at: datetime | None
    days_since_clean_scan: int | None

    @classmethod
    def of(cls, asset: Asset, *, now: datetime) -> StaleScanRead:
        """Needs `now`: the days since the asset's last clean scan."""
        return cls(
            asset=AssetRead.model_validate(asset),
            last_clean_scan_at=asset.last_clean_scan_at,
            days_since_clean_scan=(now - asset.last_clean_scan_at).days if asset.last_clean_scan_at else None,
        )


class DisposalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disposed_on: IsoDate
    agency: Text200
    receipt_reference: Text100
    data_destruction: DataDestruction
    certificate_reference: Text100 | None = None
    note: Text2000 | None = None


class DisposalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    asset_id: uuid.UUID
    disposed_on: date
    agency: str
    receipt_reference: str
    data_destruction: DataDestruction
    certificate_reference: str | None
    note: str | None
    recorded_by: str
    recorded_at: datetime
