"""Incidents' retention classes for the annual review (servicekit.retention; `manage.py retention`).

An incident's retention class and review date are set when it is recorded and only ever move later
(incident/service.py `retention`: a child's date of birth + 25 years, allegations against staff at
least 10 years, technical incidents 6 years). It is offered for review once it is closed and its
review date has come; one under legal hold never is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Executable, select

from incidents.incident.models import Incident
from servicekit.retention import RetentionRule


def _due(retention_class: str) -> Any:
    def query(on: date) -> Executable:
        return select(Incident.id, Incident.school_id, Incident.review_on, Incident.has_legal_hold).where(
            Incident.retention_class == retention_class,
            Incident.status == "closed",
            Incident.review_on <= on,
        )

    return query


RULES = [
    RetentionRule(
        "safeguarding",
        "incident",
        "closed, past the child's date of birth + 25 years",
        _due("safeguarding"),
        True,
    ),
    RetentionRule(
        "allegation",
        "incident",
        "closed, past 10 years from the record (or the child's rule)",
        _due("allegation"),
        True,
    ),
    RetentionRule(
        "operational", "incident", "closed, past 6 years from the record", _due("operational"), True
    ),
]
