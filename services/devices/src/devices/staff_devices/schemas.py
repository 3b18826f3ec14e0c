"""Request and response bodies of the staff and visitor device register."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from servicekit.params import IsoDate, Rfc3339

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

DeviceKind = Literal["phone", "tablet", "camera", "laptop", "smartwatch", "other"]
DeviceStatus = Literal["active", "removed"]
RemovalReason = Literal["owner_left", "no_longer_brought_in", "lost", "replaced"]
ImageUsePurpose = Literal["school_trip", "event", "classroom_activity", "other"]


class StaffDeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_id: uuid.UUID
    kind: DeviceKind
    make: Text100
    model: Text100
    serial_number: Text100


class ImagePermissionGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    permitted_by: uuid.UUID
    valid_until: Rfc3339
    purpose: Text2000


class ImagePermissionWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    withdrawn_by: uuid.UUID
    reason: Text2000 | None = None


class StaffDeviceRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: RemovalReason


class ImagePermissionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    action: Literal["granted", "withdrawn"]
    decided_by: uuid.UUID
    recorded_by: str
    recorded_at: datetime
    valid_until: datetime | None
    purpose: str | None


class StaffDeviceRead(BaseModel):
    id: uuid.UUID
    school_id: uuid.UUID
    owner_id: uuid.UUID
    owner_name: str | None
    owner_kind: str | None
    owner_is_current: bool
    kind: DeviceKind
    make: str
    model: str
    serial_number: str
    status: DeviceStatus
    noted_at: datetime
    noted_by: str
    removed_at: datetime | None
    removal_reason: RemovalReason | None
    images_permitted: bool
    images_permitted_by: uuid.UUID | None
    images_permitted_until: datetime | None
    image_permissions: list[ImagePermissionRead]


class ImageUseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taken_on: IsoDate
    purpose: ImageUsePurpose
    description: Text500
    pupils_count: int | None = Field(default=None, ge=0, le=5000)


class ImageUseRead(BaseModel):
    id: uuid.UUID
    device_id: uuid.UUID
    owner_id: uuid.UUID
    taken_on: date
    purpose: ImageUsePurpose
    description: str
    pupils_count: int | None
    permission_id: uuid.UUID
    permitted_by: uuid.UUID
    permitted_until: datetime | None
    recorded_by: str
    recorded_at: datetime
