"""The incidents service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from incidents.config import IncidentsSettings
from incidents.incident.access import audit_visibility
from incidents.incident.alerts import still_visible
from incidents.incident.router import router as incident_router
from incidents.reporting.router import router as reporting_router
from servicekit.alerts import ALERT_TOPIC, alerts_handler, alerts_router
from servicekit.app import create_service_app
from servicekit.audit import audit_router
from servicekit.auth import KeySource
from servicekit.clock import Clock
from servicekit.migrations import service_dir_for

# The reporting routes come first: /v1/incidents/export must not be taken for an incident id.
ROUTERS: list[APIRouter] = [
    alerts_router("/v1/incidents", {"incident": still_visible}),  # the caller's own alerts
    # First, so no '{id}' route takes 'audit' for an id. The log names sensitive records
    # (searches, never-publish flags, restricted incidents), so only the head teacher reads it,
    # and nothing about an incident the reader may not see (an allegation against themselves).
    audit_router("/v1/incidents/audit", school_roles=("head_teacher",), visibility=audit_visibility),
    reporting_router,
    incident_router,
]


def create_app(
    settings: IncidentsSettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or IncidentsSettings()
    return create_service_app(
        migrations_dir=service_dir_for(__file__),
        settings=settings,
        title="Incidents",
        description="The school's e-safety incident log and LA reporting.",
        routers=ROUTERS,
        clock=clock,
        key_source=key_source,
        follow_people=True,
        outbox_handlers={ALERT_TOPIC: alerts_handler({"incident": still_visible})},
    )
