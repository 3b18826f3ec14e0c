"""Reads of the people replica (followed from identity's feed): pupils, carers and staff of a school.

These read only this service's own tables; a miss (or, with `fresh`, any answer) goes through
`servicekit.replica.confirmed`, which catches up from identity's feed first, so what a client has
just written in identity can be used at once (read-your-writes).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.models import ReplicaCarerLink, ReplicaPerson
from servicekit.replica import confirmed


async def pupil_of_school(
    session: AsyncSession, pupil_id: uuid.UUID, school_id: uuid.UUID | None, *, fresh: bool = False
) -> ReplicaPerson | None:
    """The pupil if they belong to this school (on roll or not); None for anyone else.

    `fresh` for a decision a leaver must stop at once (recording consent)."""
    if school_id is None:
        return None

    async def find() -> ReplicaPerson | None:
        person = await session.get(ReplicaPerson, pupil_id)
        if person is None or person.kind != "pupil" or person.school_id != school_id:
            return None
        return person

    return await confirmed(session, find, fresh=fresh)


async def carer_link(
    session: AsyncSession, pupil_id: uuid.UUID, carer_id: uuid.UUID, *, needs_responsibility: bool = False
) -> ReplicaCarerLink | None:
    """The active link between a carer and a pupil, if there is one (a miss catches up only when
    the link must carry parental responsibility and does not, with `needs_responsibility`)."""

    async def find() -> ReplicaCarerLink | None:
        stmt = select(ReplicaCarerLink).where(
            ReplicaCarerLink.pupil_id == pupil_id,
            ReplicaCarerLink.carer_id == carer_id,
            ReplicaCarerLink.is_active.is_(True),
        )
        links = list((await session.scalars(stmt)).all())
        # Several links (a duplicate from the MIS) count as parental responsibility if any has it.
        links.sort(key=lambda link: not link.has_parental_responsibility)
        return links[0] if links else None

    def accept(link: ReplicaCarerLink | None) -> bool:
        return link is not None and (link.has_parental_responsibility or not needs_responsibility)

    return await confirmed(session, find, accept=accept)


async def staff_of_school(
    session: AsyncSession, person_id: uuid.UUID, school_id: uuid.UUID
) -> ReplicaPerson | None:
    async def find() -> ReplicaPerson | None:
        person = await session.get(ReplicaPerson, person_id)
        if person is None or person.kind != "staff" or person.school_id != school_id:
            return None
        return person

    return await confirmed(session, find)


async def children_of(
    session: AsyncSession, carer_id: uuid.UUID, school_id: uuid.UUID
) -> list[ReplicaPerson]:
    """Pupils of the school for whom this person is an active carer with parental responsibility
    (a parent who has none in the replica yet catches up first)."""
    return await confirmed(session, lambda: _children_of(session, carer_id, school_id), accept=bool)


async def _children_of(
    session: AsyncSession, carer_id: uuid.UUID, school_id: uuid.UUID
) -> list[ReplicaPerson]:
    stmt = (
        select(ReplicaPerson)
        .join(ReplicaCarerLink, ReplicaCarerLink.pupil_id == ReplicaPerson.id)
        .where(
            ReplicaCarerLink.carer_id == carer_id,
            ReplicaCarerLink.is_active.is_(True),
            ReplicaCarerLink.has_parental_responsibility.is_(True),
            ReplicaPerson.kind == "pupil",
            ReplicaPerson.school_id == school_id,
        )
        .order_by(ReplicaPerson.family_name, ReplicaPerson.given_name, ReplicaPerson.id)
    )
    # Two links to one child (a duplicate from the MIS) name the child once; no SQL DISTINCT, as
    # PostgreSQL cannot compare the JSON `roles` column.
    return list({p.id: p for p in (await session.scalars(stmt)).all()}.values())


async def pupil_names(session: AsyncSession, school_id: uuid.UUID) -> list[tuple[str, str]]:
    """The (given, family) names of the school's pupils on roll, as a scan looks for them."""
    stmt = select(ReplicaPerson.given_name, ReplicaPerson.family_name).where(
        ReplicaPerson.school_id == school_id,
        ReplicaPerson.kind == "pupil",
        ReplicaPerson.is_on_roll.is_(True),
    )
    return [(given, family) for given, family in (await session.execute(stmt)).all()]
