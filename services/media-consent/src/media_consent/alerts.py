"""The media-consent service's weekly alert (servicekit.alerts.Scheduler): consents ending in the
next 30 days, to the office, once an ISO week (Monday 07:00 school time, or the first tick after).

The e-mail says only that there is a list to open; the console shows it (the expiring-consents
read) to whoever may read consent.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.consent.service import expiring
from servicekit.alerts import Job, Period, raise_alert, staff_with_role, weekly

WITHIN_DAYS = 30


async def consents_expiring(
    session: AsyncSession, school_id: uuid.UUID, period: Period, now: datetime
) -> None:
    if not await expiring(session, school_id=school_id, today=period.start.date(), within_days=WITHIN_DAYS):
        return
    await raise_alert(
        session,
        kind="consents.expiring",
        school_id=school_id,
        recipients=await staff_with_role(session, school_id, "office"),
        target_type="consents",
        period_key=period.key,
        now=now,
    )


JOBS = [Job("consents.expiring", weekly(), consents_expiring)]
