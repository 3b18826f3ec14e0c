"""What every devices domain shares: people from the replica, the school's day, and the audit
entry of a change to one of the school's records (the caller's school is servicekit's `CallerSchool`).

People (pupils, carers and their parental responsibility, staff and their roles) come from the
people replica that servicekit keeps from identity's feed. A lookup that would refuse (or, for a
phone's registration, any: a pupil who has just left) goes through `servicekit.replica.confirmed`,
which catches up from identity's feed first (read-your-writes), else answers 503.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Unprocessable
from servicekit.models import ReplicaCarerLink, ReplicaPerson
from servicekit.replica import confirmed

STAFF_KINDS = frozenset({"staff"})
DEVICE_OWNER_KINDS = frozenset({"staff", "visitor", "governor"})


async def _timezone(request: Request) -> ZoneInfo:
    name: str = request.app.state.settings.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


SchoolTimezone = Annotated[ZoneInfo, Depends(_timezone)]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of a school day, as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


async def _person_of_school(
    session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID
) -> ReplicaPerson | None:
    person = await session.get(ReplicaPerson, person_id)
    if person is None or person.school_id != school_id:
        return None
    return person


async def person_of_school(
    session: AsyncSession,
    school_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    accept: Callable[[ReplicaPerson | None], bool] = lambda person: person is not None,
    fresh: bool = False,
) -> ReplicaPerson | None:
    """The person if they belong to this school; what `accept` refuses is confirmed with identity."""
    return await confirmed(
        session, lambda: _person_of_school(session, school_id, person_id), accept=accept, fresh=fresh
    )


async def require_pupil(session: AsyncSession, school_id: uuid.UUID, pupil_id: uuid.UUID) -> ReplicaPerson:
    """The pupil, on roll at this school (fresh: a leaver is seen at once); else a 422 that says so."""
    person = await person_of_school(session, school_id, pupil_id, accept=_on_roll_pupil, fresh=True)
    if person is None or person.kind != "pupil":
        raise Unprocessable("pupil_id is not a pupil of this school.", slug="not-a-pupil")
    if not person.is_on_roll:
        raise Unprocessable("This pupil is no longer on roll at this school.", slug="not-on-roll")
    return person


async def require_member(
    session: AsyncSession,
    school_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    kinds: frozenset[str],
    field: str,
) -> ReplicaPerson:
    """A current member of the school of one of `kinds` (staff, visitors...); else a 422."""

    def accept(person: ReplicaPerson | None) -> bool:
        return person is not None and person.kind in kinds and person.is_on_roll

    person = await person_of_school(session, school_id, person_id, accept=accept)
    if person is None or person.kind not in kinds or not person.is_on_roll:
        wanted = " or ".join(sorted(kinds))
        message = f"{field} is not a current {wanted} of this school."
        raise Unprocessable(message, slug="not-a-member", extra=_field_error(field, message))
    return person


async def is_head_teacher(session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    """Whether the person is a current head teacher of this school (their accounts' roles)."""
    return _is_head(await person_of_school(session, school_id, person_id, accept=_is_head))


def _is_head(person: ReplicaPerson | None) -> bool:
    return (
        person is not None
        and person.kind == "staff"
        and person.is_on_roll
        and "head_teacher" in (person.roles or [])
    )


def _on_roll_pupil(person: ReplicaPerson | None) -> bool:
    return person is not None and person.kind == "pupil" and person.is_on_roll


async def require_head_teacher(
    session: AsyncSession, school_id: uuid.UUID, person_id: uuid.UUID, *, field: str
) -> None:
    if not await is_head_teacher(session, school_id, person_id):
        message = f"{field} must be the person id of a head teacher of this school."
        raise Unprocessable(message, slug="not-head-teacher", extra=_field_error(field, message))


def _field_error(field: str, message: str) -> dict[str, object]:
    """The refusal's `errors`, as a validation error names its field (so a form shows it by the field)."""
    return {"errors": [{"field": f"body.{field}", "message": message}]}


async def carer_link(
    session: AsyncSession,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    carer_id: uuid.UUID,
    *,
    needs_responsibility: bool = False,
) -> ReplicaCarerLink | None:
    """The active link between a pupil and a carer who is a person of this school, if there is one
    (one with parental responsibility first). A missing link, or with `needs_responsibility` one
    without it, is confirmed with identity first."""

    async def find() -> ReplicaCarerLink | None:
        if await _person_of_school(session, school_id, carer_id) is None:
            return None
        link: ReplicaCarerLink | None = await session.scalar(
            select(ReplicaCarerLink)
            .where(
                ReplicaCarerLink.pupil_id == pupil_id,
                ReplicaCarerLink.carer_id == carer_id,
                ReplicaCarerLink.is_active.is_(True),
            )
            .order_by(ReplicaCarerLink.has_parental_responsibility.desc())
            .limit(1)
        )
        return link

    def accept(link: ReplicaCarerLink | None) -> bool:
        return link is not None and (link.has_parental_responsibility or not needs_responsibility)

    return await confirmed(session, find, accept=accept)


def actor_ref(principal: Principal) -> str:
    """How a record names who did something: the person's id, or `client:<id>` for an outside system."""
    return str(principal.person_id) if principal.person_id is not None else principal.actor


class SchoolRecord(Protocol):
    """A record of one school, as its audit entry names it."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def school_id(self) -> uuid.UUID: ...


async def record_audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    record: SchoolRecord,
    *,
    target_type: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a change to (or a read of) `record`: called in the service function, beside it."""
    await audit.record(
        session,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=record.id,
        school_id=record.school_id,
        at=now,
        detail=detail,
    )
