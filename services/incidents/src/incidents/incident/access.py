"""Who sees which incident, in one place: one rule that every path out of the service goes through.

The rule (who may *read* an incident):
- the head teacher and the safeguarding lead see every incident of their school, except that
  `allegation_against_staff` is the head's alone;
- any other member of staff sees the incidents they reported, unless the category is restricted
  (`grooming`, `sexting`, `radicalisation`, `self_harm_content`) or the head's alone;
- nobody ever sees an incident in which they are named as the subject (policy: do not alert a
  suspect). An allegation about the head teacher is therefore seen by nobody here: it goes to
  the chair of governors and the LA designated officer, outside this log;
- governors, the LA and outside systems never read incidents; the platform administrator
  neither (the platform is run for schools, it does not take part in their safeguarding).

Every path applies it: the record and its sub-resources, lists and search (`visible_incidents`),
the export and the counts (`reported_incidents`), audit-log reads (`audit_visibility`, which
servicekit's audit reader takes), and anything later that tells a person about an incident
(notifications, webhooks, the console: `may_see`, `people_who_may_see`).

What the export and the counts take in (`reported_incidents`):
- whoever may read incidents (the head, the safeguarding lead) exports and counts exactly what
  they may read, nothing more: otherwise comparing a count or the feed with the list would tell
  the head of an allegation against them;
- whoever may only count or report (governors, LA officers, the LA's reporting client, bound to
  an LA code) takes in every incident of their school or LA, as CONTRACT.md gives the LA, except
  an incident naming the caller as its subject; the counts are protected against small numbers
  (see `incidents.reporting.service`);
- an outside system bound to one school (a school's own reporting client) takes in every incident
  of its school, as CONTRACT.md gives it. It has no person to apply the rule to, so only the
  platform administrator may give a client the reporting scopes (identity's clients service):
  the head cannot mint one to read around the rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from incidents.incident.constants import HEAD_ONLY_CATEGORIES, RESTRICTED_CATEGORIES
from incidents.incident.models import Incident, IncidentPerson
from servicekit.auth import Principal
from servicekit.errors import Forbidden
from servicekit.models import AuditEntry, ReplicaPerson, ReplicaSchool

READ_SCOPE = "incidents:read"


@dataclass(frozen=True)
class Viewer:
    """Whom the rule is applied to: a person of a school with roles, or an outside system (no person)."""

    school_id: uuid.UUID | None
    person_id: uuid.UUID | None
    roles: frozenset[str]

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        # An outside system's token carries no person and no roles, so it reads nothing.
        return cls(principal.school_id, principal.person_id, principal.roles)


def _names_as_subject(person_id: uuid.UUID) -> ColumnElement[bool]:
    # An alias of its own, so a query that joins the incident's people (counts by year group)
    # does not correlate this subquery to that join.
    named = aliased(IncidentPerson)
    return exists().where(
        named.incident_id == Incident.id, named.person_id == person_id, named.role == "subject"
    )


def readable_by(viewer: Viewer) -> ColumnElement[bool]:
    """The SQL condition an incident meets when `viewer` may read it (the rule above)."""
    if viewer.school_id is None:
        return false()
    if "head_teacher" in viewer.roles:
        rule: ColumnElement[bool] = true()
    elif "safeguarding_lead" in viewer.roles:
        rule = Incident.category.not_in(HEAD_ONLY_CATEGORIES)
    elif viewer.person_id is not None:
        rule = and_(
            Incident.reported_by_person_id == viewer.person_id,
            Incident.category.not_in(RESTRICTED_CATEGORIES | HEAD_ONLY_CATEGORIES),
        )
    else:
        return false()
    condition = and_(Incident.school_id == viewer.school_id, rule)
    if viewer.person_id is not None:
        condition = and_(condition, not_(_names_as_subject(viewer.person_id)))
    return condition


def visible_incidents(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition an incident meets when `principal` may read it."""
    return readable_by(Viewer.of(principal))


def reported_incidents(
    principal: Principal, *, la_schools: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """The SQL condition of the incidents `principal`'s export and counts take in (see above).

    `la_schools` is the LA's schools as the caller already wrote the condition (the export's
    index-friendly form); by default a subquery of the people replica's schools.
    """
    if principal.school_id is not None:
        if principal.is_client or principal.person_id is None:
            return Incident.school_id == principal.school_id
        if principal.has_scope(READ_SCOPE):
            return visible_incidents(principal)
        return and_(Incident.school_id == principal.school_id, not_(_names_as_subject(principal.person_id)))
    if principal.la_code is None:
        raise Forbidden(
            "This needs a token bound to a school or to a local authority.", slug="scope-required"
        )
    if la_schools is None:
        schools = select(ReplicaSchool.id).where(ReplicaSchool.la_code == principal.la_code)
        la_schools = Incident.school_id.in_(schools.scalar_subquery())
    if principal.person_id is not None:
        return and_(la_schools, not_(_names_as_subject(principal.person_id)))
    return la_schools


async def may_see(session: AsyncSession, principal: Principal, incident_id: uuid.UUID) -> bool:
    """Whether `principal` may read the incident (for anything that is about to show it to them)."""
    found = await session.scalar(
        select(Incident.id).where(Incident.id == incident_id, visible_incidents(principal))
    )
    return found is not None


async def people_who_may_see(
    session: AsyncSession, incident_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these people (by their roles in the people replica) may read the incident: the ones a
    notification, a webhook or the console may tell of it. Unknown people and leavers see nothing."""
    wanted = set(person_ids)
    if not wanted:
        return set()
    people = await session.execute(
        select(ReplicaPerson.id, ReplicaPerson.school_id, ReplicaPerson.roles).where(
            ReplicaPerson.id.in_(wanted), ReplicaPerson.is_on_roll.is_(True)
        )
    )
    allowed: set[uuid.UUID] = set()
    for person_id, school_id, roles in people:
        viewer = Viewer(school_id, person_id, frozenset(roles or ()))
        if await session.scalar(select(Incident.id).where(Incident.id == incident_id, readable_by(viewer))):
            allowed.add(person_id)
    return allowed


async def audit_visibility(session: AsyncSession, principal: Principal) -> ColumnElement[bool] | None:
    """The audit entries `principal` may read, as far as they are about incidents: none about an
    incident the caller may not read (servicekit's audit reader applies it, see `audit_router`)."""
    if principal.school_id is None:
        # No school: no incident is readable, so no entry about one comes out (nor the export's
        # entries that list the restricted incidents an LA pulled).
        return and_(
            AuditEntry.target_type.is_distinct_from("incident"),
            AuditEntry.action != "incident.restricted_read",
        )
    # The school's incidents this caller may not read: for the head, the few that name them.
    hidden = [
        str(i)
        for i in await session.scalars(
            select(Incident.id).where(
                Incident.school_id == principal.school_id, not_(visible_incidents(principal))
            )
        )
    ]
    if not hidden:
        return None
    return or_(AuditEntry.target_type.is_distinct_from("incident"), AuditEntry.target_id.not_in(hidden))


def is_restricted(category: str) -> bool:
    return category in RESTRICTED_CATEGORIES or category in HEAD_ONLY_CATEGORIES
