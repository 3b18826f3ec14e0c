"""Creating, reading and changing schools. Functions take the session and only flush."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.changes.service import record_change
from identity.schools.models import School
from identity.schools.schemas import SchoolCreate, SchoolUpdate
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict
from servicekit.pagination import paginate


class UrnTaken(Conflict):
    slug = "urn-taken"


async def get(session: AsyncSession, school_id: uuid.UUID) -> School | None:
    return await session.get(School, school_id)


async def _check_urn_free(session: AsyncSession, urn: str, school_id: uuid.UUID | None) -> None:
    other = await session.scalar(select(School.id).where(School.urn == urn))
    if other is not None and other != school_id:
        raise UrnTaken(f"A school with URN {urn} already exists.")


async def create(session: AsyncSession, *, body: SchoolCreate, actor: Principal, now: datetime) -> School:
    await _check_urn_free(session, body.urn, None)
    school = School(
        name=body.name, urn=body.urn, la_code=body.la_code, created_at=now, updated_at=now, version=1
    )
    session.add(school)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="school.created",
        target_type="school",
        target_id=school.id,
        school_id=school.id,
        detail={"urn": school.urn, "la_code": school.la_code},
        at=now,
    )
    await record_change(session, kind="school", entity_id=school.id, at=now)
    return school


async def update(
    session: AsyncSession, school: School, *, body: SchoolUpdate, actor: Principal, now: datetime
) -> School:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    changed = {k: v for k, v in changes.items() if getattr(school, k) != v}
    if not changed:
        return school
    if "urn" in changed:
        await _check_urn_free(session, changed["urn"], school.id)
    for key, value in changed.items():
        setattr(school, key, value)
    school.version += 1
    school.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="school.updated",
        target_type="school",
        target_id=school.id,
        school_id=school.id,
        detail={"fields": sorted(changed)},
        at=now,
    )
    await record_change(session, kind="school", entity_id=school.id, at=now)
    return school


async def list_schools(
    session: AsyncSession, *, only: uuid.UUID | None, all_schools: bool, cursor: uuid.UUID | None, limit: int
) -> tuple[list[School], str | None]:
    stmt = select(School)
    if not all_schools:
        stmt = stmt.where(School.id == only)
    return await paginate(session, stmt, order_by=(School.created_at, School.id), cursor=cursor, limit=limit)
