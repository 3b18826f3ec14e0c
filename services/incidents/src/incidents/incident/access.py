"""Who sees which incident, in one place: a filter every query of incidents goes through.

- the head teacher and the safeguarding lead see every incident of their school, except that
  `allegation_against_staff` is the head's alone;
- any other member of staff sees the incidents they reported, unless the category is restricted
  (`grooming`, `sexting`, `radicalisation`, `self_harm_content`) or the head's alone;
- nobody ever sees an incident in which they are named as the subject (policy: do not alert a
  suspect). An allegation about the head teacher is therefore seen by nobody here: it goes to
  the chair of governors and the LA designated officer, outside this log;
- governors and the LA never read incidents: they get counts and the pseudonymised export.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, not_, true

from incidents.incident.constants import HEAD_ONLY_CATEGORIES, RESTRICTED_CATEGORIES
from incidents.incident.models import Incident, IncidentPerson
from servicekit.auth import Principal


def visible_incidents(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition an incident meets when `principal` may read it."""
    if principal.school_id is None:
        return false()
    if principal.has_role("head_teacher"):
        rule: ColumnElement[bool] = true()
    elif principal.has_role("safeguarding_lead"):
        rule = Incident.category.not_in(HEAD_ONLY_CATEGORIES)
    elif principal.person_id is not None:
        rule = and_(
            Incident.reported_by_person_id == principal.person_id,
            Incident.category.not_in(RESTRICTED_CATEGORIES | HEAD_ONLY_CATEGORIES),
        )
    else:
        return false()
    condition = and_(Incident.school_id == principal.school_id, rule)
    if principal.person_id is not None:
        is_subject = exists().where(
            IncidentPerson.incident_id == Incident.id,
            IncidentPerson.person_id == principal.person_id,
            IncidentPerson.role == "subject",
        )
        condition = and_(condition, not_(is_subject))
    return condition


def is_restricted(category: str) -> bool:
    return category in RESTRICTED_CATEGORIES or category in HEAD_ONLY_CATEGORIES
