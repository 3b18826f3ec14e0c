"""Every devices table, imported in one place for alembic and the app."""

from __future__ import annotations

from devices.assets.models import Asset, AssetDisposal, AssetLoan, AssetScan
from devices.base import Base
from devices.phone_custody.models import PhoneCustody, PhoneCustodyEvent, PhoneSearch
from devices.staff_devices.models import ImagePermission, ImageUse, StaffDevice

__all__ = [
    "Asset",
    "AssetDisposal",
    "AssetLoan",
    "AssetScan",
    "Base",
    "ImagePermission",
    "ImageUse",
    "PhoneCustody",
    "PhoneCustodyEvent",
    "PhoneSearch",
    "StaffDevice",
]
