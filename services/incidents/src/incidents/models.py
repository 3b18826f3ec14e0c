"""Every incidents table, imported in one place for alembic and the app."""

from __future__ import annotations

from incidents.base import Base
from incidents.incident.models import (
    Evidence,
    Incident,
    IncidentAction,
    IncidentHistory,
    IncidentPerson,
)

__all__ = ["Base", "Evidence", "Incident", "IncidentAction", "IncidentHistory", "IncidentPerson"]
