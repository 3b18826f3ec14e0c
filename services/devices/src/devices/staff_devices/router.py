"""Routes of the staff and visitor device register, and of the images taken on its devices."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from devices import school as people
from devices.staff_devices import service
from devices.staff_devices.dependencies import HeadTeacherOnly, ImageUseDevice, ValidStaffDevice
from devices.staff_devices.schemas import (
    DeviceStatus,
    ImageDeletionRead,
    ImagePermissionGrant,
    ImagePermissionWithdrawal,
    ImageUseCreate,
    ImageUseRead,
    StaffDeviceCreate,
    StaffDeviceRead,
    StaffDeviceRemoval,
)
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.etags import IfMatchOptional, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import IsoDate

router = APIRouter(prefix="/v1/devices/staff-devices", tags=["staff devices"])
image_uses_router = APIRouter(prefix="/v1/devices/image-uses", tags=["staff devices"])

DevicesRead = Annotated[Principal, Scoped("devices:read")]
DevicesWrite = Annotated[Principal, Scoped("devices:write")]
# A device's image uses: its owner's and the head teacher's (record-level rule in dependencies.py).
DevicesOwn = Annotated[Principal, Scoped("devices:own")]


@router.post("", status_code=201, response_model=StaffDeviceRead)
async def note_staff_device(
    principal: DevicesWrite,
    body: StaffDeviceCreate,
    school_id: CallerSchool,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Note a staff or visitor's own device: owner, kind, make and model, serial number."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    device = await service.create(session, school_id=school_id, body=body, actor=principal, now=now)
    [read] = await service.describe(session, [device], now=now)
    return await idem.respond(read, status_code=201, headers=etag_header(device.version))


@router.get("", response_model=Page[StaffDeviceRead])
async def list_staff_devices(
    principal: DevicesRead,
    request: Request,
    response: Response,
    school_id: CallerSchool,
    session: SessionDep,
    clock: ClockDep,
    owner_id: uuid.UUID | None = None,
    status: DeviceStatus | None = None,
    owner_has_left: bool | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[StaffDeviceRead]:
    """The device register; `owner_has_left=true&status=active` lists devices still to be removed."""
    rows, next_cursor = await service.list_devices(
        session,
        school_id=school_id,
        owner_id=owner_id,
        status=status,
        owner_has_left=owner_has_left,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=await service.describe(session, rows, now=clock.now()), next_cursor=next_cursor)


@router.get("/{device_id}", response_model=StaffDeviceRead)
async def get_staff_device(
    principal: DevicesRead, device: ValidStaffDevice, session: SessionDep, clock: ClockDep, response: Response
) -> StaffDeviceRead:
    """One device of the register, with its image permissions."""
    set_etag(response, device.version)
    [read] = await service.describe(session, [device], now=clock.now())
    return read


@router.post("/{device_id}/image-permissions", status_code=201, response_model=StaffDeviceRead)
async def grant_image_permission(
    principal: DevicesWrite,
    device: ValidStaffDevice,
    body: ImagePermissionGrant,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Record the head teacher's consent to take images on this device, until a given time.

    With `If-Match` (optional), a device changed since that ETag was read is 412 and nothing changes."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    changed = await service.grant_images(
        session, device, body=body, actor=principal, now=now, if_match=if_match
    )
    [read] = await service.describe(session, [changed], now=now)
    return await idem.respond(read, status_code=201, headers=etag_header(changed.version))


@router.post("/{device_id}/image-permission-withdrawals", status_code=201, response_model=StaffDeviceRead)
async def withdraw_image_permission(
    principal: DevicesWrite,
    device: ValidStaffDevice,
    body: ImagePermissionWithdrawal,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Record that the head teacher withdrew consent to take images on this device (`If-Match`
    optional: a stale one is 412)."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    changed = await service.withdraw_images(
        session, device, body=body, actor=principal, now=now, if_match=if_match
    )
    [read] = await service.describe(session, [changed], now=now)
    return await idem.respond(read, status_code=201, headers=etag_header(changed.version))


@router.post("/{device_id}/removal", response_model=StaffDeviceRead)
async def remove_staff_device(
    principal: DevicesWrite,
    device: ValidStaffDevice,
    body: StaffDeviceRemoval,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Take a device off the register (its owner left, it is no longer brought in...); `If-Match`
    optional: a stale one is 412."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    removed = await service.remove(session, device, body=body, actor=principal, now=now, if_match=if_match)
    [read] = await service.describe(session, [removed], now=now)
    return await idem.respond(read, status_code=200, headers=etag_header(removed.version))


@router.post("/{device_id}/image-uses", status_code=201, response_model=ImageUseRead)
async def record_image_use(
    principal: DevicesOwn,
    device: ImageUseDevice,
    body: ImageUseCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
) -> Response:
    """Record one occasion images were taken on this device under the head teacher's permission."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    use = await service.record_image_use(session, device, body=body, actor=principal, now=now, tz=tz)
    [read] = await service.describe_image_uses(session, [use])
    return await idem.respond(read, status_code=201)


@router.post("/{device_id}/image-uses/{use_id}/deletion", status_code=201, response_model=ImageDeletionRead)
async def confirm_image_deletion(
    principal: DevicesOwn,
    device: ImageUseDevice,
    use_id: uuid.UUID,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Confirm that this use's images were downloaded and deleted from the device in school (the
    policy: before the end of the day). Until then its owner, then the head teacher, is alerted."""
    if idem.replay is not None:
        return idem.replay
    deletion = await service.confirm_deletion(session, device, use_id, actor=principal, now=clock.now())
    return await idem.respond(ImageDeletionRead.model_validate(deletion), status_code=201)


@router.get("/{device_id}/image-uses", response_model=Page[ImageUseRead])
async def list_device_image_uses(
    principal: DevicesOwn,
    device: ImageUseDevice,
    request: Request,
    response: Response,
    session: SessionDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[ImageUseRead]:
    """The recorded image uses of one device, by the day taken (its owner and the head teacher)."""
    rows, next_cursor = await service.list_device_image_uses(session, device, cursor=cursor, limit=limit)
    set_next_link(request, response, next_cursor)
    return Page(items=await service.describe_image_uses(session, rows), next_cursor=next_cursor)


@image_uses_router.get("", response_model=Page[ImageUseRead])
async def list_school_image_uses(
    principal: DevicesRead,
    _head: HeadTeacherOnly,
    request: Request,
    response: Response,
    school_id: CallerSchool,
    session: SessionDep,
    since: IsoDate | None = None,
    until: IsoDate | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[ImageUseRead]:
    """Every recorded image use on the school's personal devices, `since`/`until` days taken (the head)."""
    rows, next_cursor = await service.list_school_image_uses(
        session, school_id=school_id, since=since, until=until, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page(items=await service.describe_image_uses(session, rows), next_cursor=next_cursor)
