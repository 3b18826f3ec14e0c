"""The devices service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from devices.alerts import JOBS
from devices.assets.router import router as assets_router
from devices.config import DevicesSettings
from devices.phone_custody.router import router as phone_custody_router
from devices.staff_devices.router import image_uses_router
from devices.staff_devices.router import router as staff_devices_router
from servicekit.alerts import (
    ALERT_TOPIC,
    alert_scheduler,
    alerts_handler,
    alerts_router,
    start_scheduler,
    stop_scheduler,
)
from servicekit.app import create_service_app
from servicekit.audit import audit_router
from servicekit.auth import KeySource
from servicekit.clock import Clock
from servicekit.migrations import service_dir_for

ROUTERS: list[APIRouter] = [
    alerts_router("/v1/devices"),  # the caller's own alerts
    # First, so no '{id}' route takes 'audit' for an id. The log names sensitive records
    # (searches, never-publish flags, restricted incidents), so only the head teacher reads it.
    audit_router("/v1/devices/audit", school_roles=("head_teacher",)),
    phone_custody_router,
    staff_devices_router,
    image_uses_router,
    assets_router,
]


def create_app(
    settings: DevicesSettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or DevicesSettings()
    app = create_service_app(
        migrations_dir=service_dir_for(__file__),
        settings=settings,
        title="Devices",
        description="School hardware, staff and visitor devices, and pupil phones in the school's custody.",
        routers=ROUTERS,
        clock=clock,
        key_source=key_source,
        follow_people=True,
        outbox_handlers={ALERT_TOPIC: alerts_handler()},
        on_startup=[start_scheduler],
        on_shutdown=[stop_scheduler],
    )
    alert_scheduler(app, JOBS)
    return app
