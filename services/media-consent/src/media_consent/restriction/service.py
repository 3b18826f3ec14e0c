"""Reading, setting and clearing the never-publish flag, and the school's list of flagged pupils.

Every read and every change is audited here, beside what it records; setting the flag tells the MLE.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.consent.models import ConsentCurrent
from media_consent.consent.service import add_change
from media_consent.restriction.models import NeverPublish
from media_consent.restriction.schemas import FlaggedPupil, NeverPublishRead
from servicekit import audit
from servicekit.auth import Principal
from servicekit.models import ReplicaPerson


def read(pupil_id: uuid.UUID, row: NeverPublish | None) -> NeverPublishRead:
    if row is None:
        return NeverPublishRead(
            pupil_id=pupil_id, is_active=False, set_by=None, set_at=None, cleared_by=None, cleared_at=None
        )
    return NeverPublishRead(
        pupil_id=pupil_id,
        is_active=row.is_active,
        set_by=row.set_by,
        set_at=row.set_at,
        cleared_by=row.cleared_by,
        cleared_at=row.cleared_at,
    )


async def read_flag(
    session: AsyncSession, *, pupil: ReplicaPerson, actor: Principal, now: datetime
) -> NeverPublishRead:
    """Whether the pupil is flagged; the read itself is audited."""
    row = await session.get(NeverPublish, pupil.id)
    await audit.record(
        session,
        actor=actor,
        action="consent.never_publish.read",
        target_type="pupil",
        target_id=pupil.id,
        school_id=pupil.school_id,
        at=now,
    )
    return read(pupil.id, row)


async def set_flag(
    session: AsyncSession, *, pupil: ReplicaPerson, actor: Principal, now: datetime
) -> NeverPublish:
    row = await session.get(NeverPublish, pupil.id)
    if row is not None and row.is_active:
        return row
    if row is None:
        row = NeverPublish(
            pupil_id=pupil.id, school_id=pupil.school_id, is_active=True, set_by=actor.actor, set_at=now
        )
        session.add(row)
    else:
        row.is_active, row.set_by, row.set_at = True, actor.actor, now
        row.cleared_by, row.cleared_at = None, None
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="consent.never_publish.set",
        target_type="pupil",
        target_id=pupil.id,
        school_id=pupil.school_id,
        at=now,
    )
    # The MLE follows the feed to take down what may no longer be shown; the kind says no more than
    # every later check will ("restricted"), never why.
    current = await session.get(ConsentCurrent, pupil.id)
    await add_change(
        session,
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        version=current.version if current else 0,
        kind="restricted",
        now=now,
    )
    return row


async def clear_flag(
    session: AsyncSession, *, pupil: ReplicaPerson, actor: Principal, now: datetime
) -> NeverPublish | None:
    row = await session.get(NeverPublish, pupil.id)
    if row is None or not row.is_active:
        return row
    row.is_active, row.cleared_by, row.cleared_at = False, actor.actor, now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="consent.never_publish.cleared",
        target_type="pupil",
        target_id=pupil.id,
        school_id=pupil.school_id,
        at=now,
    )
    return row


async def flagged(
    session: AsyncSession, *, school_id: uuid.UUID, actor: Principal, now: datetime
) -> list[FlaggedPupil]:
    """Every flagged pupil of the school, by name; the listing is audited."""
    stmt = (
        select(NeverPublish, ReplicaPerson)
        .join(ReplicaPerson, ReplicaPerson.id == NeverPublish.pupil_id)
        .where(NeverPublish.school_id == school_id, NeverPublish.is_active.is_(True))
        .order_by(ReplicaPerson.family_name, ReplicaPerson.given_name, ReplicaPerson.id)
    )
    rows = (await session.execute(stmt)).all()
    await audit.record(
        session,
        actor=actor,
        action="consent.never_publish.listed",
        target_type="school",
        target_id=school_id,
        school_id=school_id,
        detail={"count": len(rows)},
        at=now,
    )
    return [
        FlaggedPupil(
            pupil_id=p.id,
            given_name=p.given_name,
            family_name=p.family_name,
            year_group=p.year_group,
            set_by=flag.set_by,
            set_at=flag.set_at,
        )
        for flag, p in rows
    ]
