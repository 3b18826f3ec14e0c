"""Devices' retention classes for the annual review (servicekit.retention; `manage.py retention`).

A phone's custody record is kept for a year after the phone went back (a complaint about a
confiscation is raised within the school year); a staff device's record for a year after it was
removed from the register. Searches of a phone are part of its custody record.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Executable, select

from devices.phone_custody.models import PhoneCustody
from devices.staff_devices.models import StaffDevice
from servicekit.retention import RetentionRule, years_before

CUSTODY_YEARS = 1
STAFF_DEVICE_YEARS = 1


def _custody(on: date) -> Executable:
    return select(PhoneCustody.id, PhoneCustody.school_id, PhoneCustody.closed_at).where(
        PhoneCustody.closed_at.is_not(None), PhoneCustody.closed_at < years_before(on, CUSTODY_YEARS)
    )


def _staff_devices(on: date) -> Executable:
    return select(StaffDevice.id, StaffDevice.school_id, StaffDevice.removed_at).where(
        StaffDevice.removed_at.is_not(None), StaffDevice.removed_at < years_before(on, STAFF_DEVICE_YEARS)
    )


RULES = [
    RetentionRule(
        "phone-custody", "phone_custody", "returned more than a year ago", _custody, after_years=CUSTODY_YEARS
    ),
    RetentionRule(
        "staff-device",
        "staff_device",
        "removed from the register more than a year ago",
        _staff_devices,
        after_years=STAFF_DEVICE_YEARS,
    ),
]
