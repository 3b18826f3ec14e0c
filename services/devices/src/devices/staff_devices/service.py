"""The staff and visitor device register: note a device, the head's image permissions, each use, removal.

Each change writes its audit entry beside it (the actor is passed as `actor=`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from devices import school as people
from devices.staff_devices import schemas
from devices.staff_devices.models import ImagePermission, ImageUse, ImageUseDeletion, StaffDevice
from devices.staff_devices.schemas import ImageUseRead, StaffDeviceRead
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.etags import IfMatch, StaleETag, etag
from servicekit.models import ReplicaPerson
from servicekit.pagination import paginate


class StaffDeviceNotFound(NotFound):
    slug = "staff-device-not-found"


class StaffDeviceRemoved(Conflict):
    slug = "staff-device-removed"


class ImagesNotPermitted(Unprocessable):
    """No image permission of the head teacher was in force on the day of a use."""

    slug = "images-not-permitted"


class ImageUseOnRemovedDevice(Unprocessable):
    slug = "staff-device-removed"


async def get(session: AsyncSession, *, school_id: uuid.UUID, device_id: uuid.UUID) -> StaffDevice | None:
    return await session.scalar(
        select(StaffDevice)
        .where(StaffDevice.id == device_id, StaffDevice.school_id == school_id)
        .execution_options(populate_existing=True)
    )


async def create(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    body: schemas.StaffDeviceCreate,
    actor: Principal,
    now: datetime,
) -> StaffDevice:
    owner_id = body.owner_id
    await people.require_member(
        session, school_id, owner_id, kinds=people.DEVICE_OWNER_KINDS, field="owner_id"
    )
    device = StaffDevice(
        school_id=school_id,
        owner_id=owner_id,
        kind=body.kind,
        make=body.make,
        model=body.model,
        serial_number=body.serial_number,
        status="active",
        noted_at=now,
        noted_by=people.actor_ref(actor),
        version=1,
        updated_at=now,
    )
    session.add(device)
    await session.flush()
    await people.record_audit(
        session,
        actor,
        "staff_device.noted",
        device,
        target_type="staff_device",
        now=now,
        detail={"owner_id": str(owner_id)},
    )
    return device


async def list_devices(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    status: str | None,
    owner_has_left: bool | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[StaffDevice], str | None]:
    stmt = select(StaffDevice).where(StaffDevice.school_id == school_id)
    if owner_id is not None:
        stmt = stmt.where(StaffDevice.owner_id == owner_id)
    if status is not None:
        stmt = stmt.where(StaffDevice.status == status)
    if owner_has_left is not None:
        current = select(ReplicaPerson.id).where(
            ReplicaPerson.school_id == school_id, ReplicaPerson.is_on_roll.is_(True)
        )
        stmt = stmt.where(
            StaffDevice.owner_id.not_in(current) if owner_has_left else StaffDevice.owner_id.in_(current)
        )
    return await paginate(
        session, stmt, order_by=(StaffDevice.noted_at, StaffDevice.id), cursor=cursor, limit=limit
    )


async def _change(
    session: AsyncSession,
    device: StaffDevice,
    *,
    now: datetime,
    if_match: IfMatch | None = None,
    **values: object,
) -> StaffDevice:
    """Bump the version of an active device (and change it), refusing a removed one, and one that
    changed since the caller's `If-Match` was read (412: checked in the UPDATE itself, so two
    changes made from one ETag cannot both pass)."""
    if if_match is not None:
        if_match.check(device.version)
    stmt = update(StaffDevice).where(StaffDevice.id == device.id, StaffDevice.status == "active")
    if if_match is not None and if_match.sent:
        stmt = stmt.where(StaffDevice.version == device.version)
    result = await session.execute(
        stmt.values(version=StaffDevice.version + 1, updated_at=now, **values)
        .returning(StaffDevice.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        current = await get(session, school_id=device.school_id, device_id=device.id)
        if current is not None and current.status == "active":
            raise StaleETag(etag(current.version))
        raise StaffDeviceRemoved("This device has been removed from the register.")
    fresh = await get(session, school_id=device.school_id, device_id=device.id)
    assert fresh is not None
    return fresh


async def grant_images(
    session: AsyncSession,
    device: StaffDevice,
    *,
    body: schemas.ImagePermissionGrant,
    actor: Principal,
    now: datetime,
    if_match: IfMatch | None = None,
) -> StaffDevice:
    """The head's consent to take images on this device until a given time (the policy asks for it)."""
    permitted_by, valid_until = body.permitted_by, body.valid_until
    await people.require_head_teacher(session, device.school_id, permitted_by, field="permitted_by")
    if valid_until <= now:
        raise Unprocessable("valid_until must be in the future.", slug="validation-error")
    device = await _change(session, device, now=now, if_match=if_match)
    session.add(
        ImagePermission(
            device_id=device.id,
            position=device.version,
            action="granted",
            decided_by=permitted_by,
            recorded_by=people.actor_ref(actor),
            recorded_at=now,
            valid_until=valid_until,
            purpose=body.purpose,
        )
    )
    await session.flush()
    detail = {"permitted_by": str(permitted_by), "valid_until": valid_until.isoformat()}
    await people.record_audit(
        session,
        actor,
        "staff_device.images_permitted",
        device,
        target_type="staff_device",
        now=now,
        detail=detail,
    )
    return device


async def withdraw_images(
    session: AsyncSession,
    device: StaffDevice,
    *,
    body: schemas.ImagePermissionWithdrawal,
    actor: Principal,
    now: datetime,
    if_match: IfMatch | None = None,
) -> StaffDevice:
    withdrawn_by = body.withdrawn_by
    await people.require_head_teacher(session, device.school_id, withdrawn_by, field="withdrawn_by")
    device = await _change(session, device, now=now, if_match=if_match)
    session.add(
        ImagePermission(
            device_id=device.id,
            position=device.version,
            action="withdrawn",
            decided_by=withdrawn_by,
            recorded_by=people.actor_ref(actor),
            recorded_at=now,
            purpose=body.reason,
        )
    )
    await session.flush()
    detail = {"withdrawn_by": str(withdrawn_by)}
    await people.record_audit(
        session,
        actor,
        "staff_device.images_withdrawn",
        device,
        target_type="staff_device",
        now=now,
        detail=detail,
    )
    return device


async def remove(
    session: AsyncSession,
    device: StaffDevice,
    *,
    body: schemas.StaffDeviceRemoval,
    actor: Principal,
    now: datetime,
    if_match: IfMatch | None = None,
) -> StaffDevice:
    """Take a device off the register (its owner left...); the record itself is kept."""
    by, reason = people.actor_ref(actor), body.reason
    removed = await _change(
        session,
        device,
        now=now,
        if_match=if_match,
        status="removed",
        removed_at=now,
        removed_by=by,
        removal_reason=reason,
    )
    await people.record_audit(
        session,
        actor,
        "staff_device.removed",
        device,
        target_type="staff_device",
        now=now,
        detail={"reason": reason},
    )
    return removed


async def describe(
    session: AsyncSession, devices: Sequence[StaffDevice], *, now: datetime
) -> list[StaffDeviceRead]:
    """The devices as the API shows them: owner's name and the current image permission."""
    if not devices:
        return []
    ids = [d.id for d in devices]
    permissions: dict[uuid.UUID, list[ImagePermission]] = defaultdict(list)
    rows = await session.scalars(
        select(ImagePermission)
        .where(ImagePermission.device_id.in_(ids))
        .order_by(ImagePermission.device_id, ImagePermission.position)
    )
    for p in rows:
        permissions[p.device_id].append(p)
    owners = {
        p.id: p
        for p in await session.scalars(
            select(ReplicaPerson).where(ReplicaPerson.id.in_({d.owner_id for d in devices}))
        )
    }
    return [
        StaffDeviceRead.of(d, owner=owners.get(d.owner_id), history=permissions[d.id], now=now)
        for d in devices
    ]


async def record_image_use(
    session: AsyncSession,
    device: StaffDevice,
    *,
    body: schemas.ImageUseCreate,
    actor: Principal,
    now: datetime,
    tz: ZoneInfo,
) -> ImageUse:
    """Append one use of the device to take images, if the head's permission was in force that day.

    A use is dated, not timed, so the rule is about the school day `taken_on`: the head's latest
    decision recorded by the end of that day must be a grant whose `valid_until` falls after the
    day began. A withdrawal recorded on that day refuses the day's uses (fail closed: nothing says
    the images were taken before it).
    """
    taken_on = body.taken_on
    if taken_on > people.local_date(now, tz):
        raise Unprocessable("taken_on must not be in the future: record a use once it happened.")
    # Lock the device row (PostgreSQL) so a withdrawal or removal committed at the same moment is
    # either seen here or waits for this use; the image_permission rows are only appended with the
    # device's version bumped under the same row.
    locked = await session.scalar(
        select(StaffDevice)
        .where(StaffDevice.id == device.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None or locked.status != "active":
        raise ImageUseOnRemovedDevice(
            "This device has been removed from the register: no use can be recorded."
        )
    # No permission can predate the device's noting; this also keeps day_bounds off year 1.
    if taken_on < people.local_date(locked.noted_at, tz):
        raise ImagesNotPermitted(
            f"This device was not yet in the register on {taken_on.isoformat()}, so no permission covered it."
        )
    start, end = people.day_bounds(taken_on, tz)
    latest = await session.scalar(
        select(ImagePermission)
        .where(ImagePermission.device_id == device.id, ImagePermission.recorded_at < end)
        .order_by(ImagePermission.position.desc())
        .limit(1)
    )
    if latest is None:
        raise ImagesNotPermitted(
            f"The head teacher had not permitted taking images on this device by {taken_on.isoformat()}."
        )
    if latest.action != "granted":
        raise ImagesNotPermitted(
            f"The head teacher's permission to take images on this device was withdrawn by "
            f"{taken_on.isoformat()}."
        )
    if latest.valid_until is None or latest.valid_until <= start:
        raise ImagesNotPermitted(
            f"The head teacher's permission to take images on this device had expired by "
            f"{taken_on.isoformat()}."
        )
    use = ImageUse(
        school_id=device.school_id,
        device_id=device.id,
        permission_id=latest.id,
        taken_on=taken_on,
        purpose=body.purpose,
        description=body.description,
        pupils_count=body.pupils_count,
        recorded_by=people.actor_ref(actor),
        recorded_at=now,
    )
    session.add(use)
    await session.flush()
    detail = {
        "device_id": str(device.id),
        "taken_on": taken_on.isoformat(),
        "purpose": body.purpose,
        "permission_id": str(use.permission_id),
    }
    await people.record_audit(
        session,
        actor,
        "staff_device.image_use_recorded",
        use,
        target_type="image_use",
        now=now,
        detail=detail,
    )
    return use


_USE_ORDER = (ImageUse.taken_on, ImageUse.recorded_at, ImageUse.id)


async def list_device_image_uses(
    session: AsyncSession, device: StaffDevice, *, cursor: uuid.UUID | None, limit: int
) -> tuple[list[ImageUse], str | None]:
    stmt = select(ImageUse).where(ImageUse.device_id == device.id, ImageUse.school_id == device.school_id)
    return await paginate(session, stmt, order_by=_USE_ORDER, cursor=cursor, limit=limit)


async def list_school_image_uses(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    since: date | None,
    until: date | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[ImageUse], str | None]:
    """Every recorded use of the school's devices, by the day taken (`since` and `until` included)."""
    # `since` after `until` is an empty period: an empty list, not a 422 (the schema allows it).
    stmt = select(ImageUse).where(ImageUse.school_id == school_id)
    if since is not None:
        stmt = stmt.where(ImageUse.taken_on >= since)
    if until is not None:
        stmt = stmt.where(ImageUse.taken_on <= until)
    return await paginate(session, stmt, order_by=_USE_ORDER, cursor=cursor, limit=limit)


async def describe_image_uses(session: AsyncSession, uses: Sequence[ImageUse]) -> list[ImageUseRead]:
    """The uses as the API shows them: with the device's owner and the permission that covered each."""
    if not uses:
        return []
    owners = {
        row.id: row.owner_id
        for row in await session.execute(
            select(StaffDevice.id, StaffDevice.owner_id).where(
                StaffDevice.id.in_({u.device_id for u in uses})
            )
        )
    }
    grants = {
        p.id: p
        for p in await session.scalars(
            select(ImagePermission).where(ImagePermission.id.in_({u.permission_id for u in uses}))
        )
    }
    return [
        ImageUseRead.of(u, owner_id=owners[u.device_id], permission=grants[u.permission_id]) for u in uses
    ]


class ImageUseNotFound(NotFound):
    slug = "image-use-not-found"


class DeletionAlreadyConfirmed(Conflict):
    slug = "deletion-already-confirmed"


async def confirm_deletion(
    session: AsyncSession, device: StaffDevice, use_id: uuid.UUID, *, actor: Principal, now: datetime
) -> ImageUseDeletion:
    """Record that the use's images were downloaded and deleted from the device (once per use)."""
    use = await session.scalar(
        select(ImageUse).where(ImageUse.id == use_id, ImageUse.device_id == device.id).with_for_update()
    )
    if use is None:
        raise ImageUseNotFound("No image use of this device with this id.")
    if await session.scalar(select(ImageUseDeletion.id).where(ImageUseDeletion.image_use_id == use.id)):
        raise DeletionAlreadyConfirmed("This image use's deletion is already confirmed.")
    deletion = ImageUseDeletion(
        image_use_id=use.id, school_id=use.school_id, confirmed_by=people.actor_ref(actor), confirmed_at=now
    )
    session.add(deletion)
    await session.flush()
    await people.record_audit(
        session,
        actor,
        "staff_device.image_deletion_confirmed",
        use,
        target_type="image_use",
        now=now,
        detail={"device_id": str(device.id), "taken_on": use.taken_on.isoformat()},
    )
    return deletion


async def unconfirmed_uses(
    session: AsyncSession, *, school_id: uuid.UUID, on_or_before: date
) -> list[tuple[ImageUse, uuid.UUID]]:
    """Image uses (up to the day) whose deletion nobody has confirmed, with their device's owner."""
    confirmed = select(ImageUseDeletion.image_use_id)
    rows = await session.execute(
        select(ImageUse, StaffDevice.owner_id)
        .join(StaffDevice, StaffDevice.id == ImageUse.device_id)
        .where(
            ImageUse.school_id == school_id,
            ImageUse.taken_on <= on_or_before,
            ImageUse.id.not_in(confirmed),
        )
        .order_by(ImageUse.taken_on, ImageUse.id)
    )
    return [(use, owner) for use, owner in rows.all()]
