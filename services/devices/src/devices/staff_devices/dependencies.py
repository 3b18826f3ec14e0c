"""Record-level access to the staff device register: the caller's school only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from devices.school import SchoolId
from devices.staff_devices import service
from devices.staff_devices.models import StaffDevice
from servicekit.db import SessionDep


async def valid_staff_device_id(
    device_id: uuid.UUID, school_id: SchoolId, session: SessionDep
) -> StaffDevice:
    device = await service.get(session, school_id=school_id, device_id=device_id)
    if device is None:
        raise service.StaffDeviceNotFound("No staff device with this id.")
    return device


ValidStaffDevice = Annotated[StaffDevice, Depends(valid_staff_device_id)]
