"""The devices service's scheduled alerts, once a school day (servicekit.alerts.Scheduler):

- phones still held at the end of the school day (daily hand-ins not collected, confiscations held
  over): the office;
- image uses on staff devices whose deletion nobody has confirmed by the end of the day (the policy:
  images "downloaded from the device and deleted in school before the end of the day"): the device's
  owner at the end of the day, and the head teacher an hour later if still not confirmed.

The e-mails say only that there is something to open; the console shows the list to whoever may see it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from devices.phone_custody.models import PhoneCustody
from devices.staff_devices.service import unconfirmed_uses
from servicekit.alerts import Job, Period, at_end_of_day, raise_alert, staff_with_role

ESCALATE_AFTER = timedelta(hours=1)


async def phones_still_held(
    session: AsyncSession, school_id: uuid.UUID, period: Period, now: datetime
) -> None:
    held = await session.scalar(
        select(func.count())
        .select_from(PhoneCustody)
        .where(PhoneCustody.school_id == school_id, PhoneCustody.status == "held")
    )
    if not held:
        return
    await raise_alert(
        session,
        kind="phones.still_held",
        school_id=school_id,
        recipients=await staff_with_role(session, school_id, "office"),
        target_type="phones",
        period_key=period.key,
        now=now,
    )


async def image_uses_to_owners(
    session: AsyncSession, school_id: uuid.UUID, period: Period, now: datetime
) -> None:
    owners = {
        owner
        for _, owner in await unconfirmed_uses(
            session, school_id=school_id, on_or_before=date.fromisoformat(period.key)
        )
    }
    await raise_alert(
        session,
        kind="image_uses.not_deleted",
        school_id=school_id,
        recipients=owners,
        target_type="image_uses",
        period_key=period.key,
        now=now,
    )


async def image_uses_to_head(
    session: AsyncSession, school_id: uuid.UUID, period: Period, now: datetime
) -> None:
    if not await unconfirmed_uses(session, school_id=school_id, on_or_before=date.fromisoformat(period.key)):
        return
    await raise_alert(
        session,
        kind="image_uses.not_deleted.escalated",
        school_id=school_id,
        recipients=await staff_with_role(session, school_id, "head_teacher"),
        target_type="image_uses",
        period_key=period.key,
        now=now,
    )


JOBS = [
    Job("phones.still_held", at_end_of_day(), phones_still_held),
    Job("image_uses.not_deleted", at_end_of_day(), image_uses_to_owners),
    Job("image_uses.not_deleted.escalated", at_end_of_day(after=ESCALATE_AFTER), image_uses_to_head),
]
