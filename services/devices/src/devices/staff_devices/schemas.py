"""Request and response bodies of the staff and visitor device register."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from servicekit.params import IsoDate, Rfc3339

if TYPE_CHECKING:
    from devices.staff_devices.models import ImagePermission, ImageUse, StaffDevice
    from servicekit.models import ReplicaPerson

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

    @classmethod
    def of(
        cls,
        device: StaffDevice,
        *,
        owner: ReplicaPerson | None,
        history: Sequence[ImagePermission],
        now: datetime,
    ) -> StaffDeviceRead:
        """Needs what the row lacks: its owner (from the replica), its image permissions (oldest
        first) and now (a permission counts until its `valid_until`)."""
        latest = history[-1] if history else None
        permitted = (
            device.status == "active"
            and latest is not None
            and latest.action == "granted"
            and latest.valid_until is not None
            and latest.valid_until > now
        )
        return cls(
            id=device.id,
            school_id=device.school_id,
            owner_id=device.owner_id,
            owner_name=f"{owner.given_name} {owner.family_name}" if owner else None,
            owner_kind=owner.kind if owner else None,
            owner_is_current=bool(owner and owner.is_on_roll and owner.school_id == device.school_id),
            kind=device.kind,
            make=device.make,
            model=device.model,
            serial_number=device.serial_number,
            status=device.status,
            noted_at=device.noted_at,
            noted_by=device.noted_by,
            removed_at=device.removed_at,
            removal_reason=device.removal_reason,
            images_permitted=permitted,
            images_permitted_by=latest.decided_by if permitted and latest else None,
            images_permitted_until=latest.valid_until if permitted and latest else None,
            image_permissions=[ImagePermissionRead.model_validate(p) for p in history],
        )


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

    @classmethod
    def of(cls, use: ImageUse, *, owner_id: uuid.UUID, permission: ImagePermission) -> ImageUseRead:
        """Needs what the row lacks: the device's owner and the permission that covered the use."""
        return cls(
            id=use.id,
            device_id=use.device_id,
            owner_id=owner_id,
            taken_on=use.taken_on,
            purpose=use.purpose,
            description=use.description,
            pupils_count=use.pupils_count,
            permission_id=use.permission_id,
            permitted_by=permission.decided_by,
            permitted_until=permission.valid_until,
            recorded_by=use.recorded_by,
            recorded_at=use.recorded_at,
        )


class ImageDeletionRead(BaseModel):
    """The confirmation that an image use's images were deleted from the device (the policy)."""

    model_config = ConfigDict(from_attributes=True)

    image_use_id: uuid.UUID
    confirmed_by: str
    confirmed_at: datetime
