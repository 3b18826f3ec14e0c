"""Record-level access to the staff device register: the caller's school only.

Image uses of a device are its owner's and the head teacher's: the policy makes the head the one
who permits, monitors and withdraws image-taking on personal devices, and the owner records what
they did with that permission. No one else (not the computing lead, who keeps the register)
reads or records them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from devices.staff_devices import service
from devices.staff_devices.models import StaffDevice
from servicekit.auth import CallerSchool, CurrentPrincipal
from servicekit.db import SessionDep
from servicekit.errors import Forbidden

HEAD_TEACHER = "head_teacher"


async def valid_staff_device_id(
    device_id: uuid.UUID, school_id: CallerSchool, session: SessionDep
) -> StaffDevice:
    device = await service.get(session, school_id=school_id, device_id=device_id)
    if device is None:
        raise service.StaffDeviceNotFound("No staff device with this id.")
    return device


ValidStaffDevice = Annotated[StaffDevice, Depends(valid_staff_device_id)]


async def image_use_device(principal: CurrentPrincipal, device: ValidStaffDevice) -> StaffDevice:
    """The device, if the caller is its owner or the head teacher.

    Someone who cannot read the register learns nothing of another's device (404); someone who
    can (the office, the computing lead) is told why they are refused (403).
    """
    if principal.has_role(HEAD_TEACHER):
        return device
    if principal.person_id is not None and principal.person_id == device.owner_id:
        return device
    if not principal.has_scope("devices:read"):
        raise service.StaffDeviceNotFound("No staff device of yours with this id.")
    raise Forbidden(
        "Only the device's owner or the head teacher records and reads its image uses.",
        slug="not-device-owner",
    )


ImageUseDevice = Annotated[StaffDevice, Depends(image_use_device)]


async def head_teacher_only(principal: CurrentPrincipal) -> None:
    """The school-wide view of image uses is the head teacher's (the policy: the head monitors them)."""
    if not principal.has_role(HEAD_TEACHER):
        raise Forbidden("Only the head teacher sees every device's image uses.", slug="head-teacher-only")


HeadTeacherOnly = Annotated[None, Depends(head_teacher_only)]
