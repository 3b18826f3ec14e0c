"""Who hears of a new incident, at once: by the same rule as who may read it (`access`).

- a new concern: the school's safeguarding lead(s);
- an allegation against staff: the head teacher only (never the person it names);
- a critical incident: the head teacher too.
Each candidate is kept only if `people_who_may_see` says they may read the incident, so the
subject of an allegation, or of a restricted concern, never hears of it; the check runs again
when the e-mail goes out (`still_visible`), for a role taken away meanwhile. The reporter is not
alerted of their own report.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from incidents.incident.access import people_who_may_see
from incidents.incident.constants import HEAD_ONLY_CATEGORIES
from incidents.incident.models import Incident
from servicekit.alerts import AlertKind, raise_alert, staff_with_role
from servicekit.auth import Principal
from servicekit.models import StaffAlert


async def raise_for_new(session: AsyncSession, incident: Incident, *, actor: Principal) -> None:
    heads = await staff_with_role(session, incident.school_id, "head_teacher")
    wanted: dict[AlertKind, set[uuid.UUID]] = {}
    if incident.category in HEAD_ONLY_CATEGORIES:
        wanted["incident.allegation"] = heads
    else:
        wanted["incident.new"] = await staff_with_role(session, incident.school_id, "safeguarding_lead")
        if incident.severity == "critical":
            wanted["incident.critical"] = heads
    for kind, candidates in wanted.items():
        if actor.person_id is not None:
            candidates.discard(actor.person_id)
        allowed = await people_who_may_see(session, incident.id, candidates)
        await raise_alert(
            session,
            kind=kind,
            school_id=incident.school_id,
            recipients=allowed,
            target_type="incident",
            target_id=incident.id,
            now=incident.recorded_at,
        )


async def still_visible(session: AsyncSession, alert: StaffAlert) -> bool:
    """Whether the alert's recipient may still read its incident (checked when it is e-mailed)."""
    if alert.target_id is None:
        return False
    allowed = await people_who_may_see(session, uuid.UUID(alert.target_id), [alert.person_id])
    return alert.person_id in allowed
