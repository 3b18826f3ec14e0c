"""People and carer links: create, read, change, mark leavers, link and unlink carers.

Functions take the session and only flush. Each change is audited and recorded in the people
change feed in the same transaction.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.changes.service import record_change
from identity.people.models import CarerLink, Person
from identity.people.schemas import CarerLinkCreate, PersonCreate, PersonUpdate, person_rule_problem
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.pagination import paginate

CARER_KINDS = frozenset({"parent"})


class PersonNotFound(NotFound):
    slug = "person-not-found"


class CarerLinkNotFound(NotFound):
    slug = "carer-link-not-found"


class ExternalRefTaken(Conflict):
    slug = "external-ref-taken"


class InvalidPerson(Unprocessable):
    slug = "invalid-person"


class NotAPupil(Unprocessable):
    slug = "not-a-pupil"


class NotACarer(Unprocessable):
    slug = "not-a-carer"


class AlreadyLinked(Conflict):
    slug = "carer-already-linked"


class AlreadyLeft(Conflict):
    slug = "already-left"


class LinkAlreadyEnded(Conflict):
    slug = "carer-link-already-ended"


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def find_by_external_ref(
    session: AsyncSession, school_id: uuid.UUID, external_ref: str
) -> Person | None:
    return await session.scalar(
        select(Person).where(Person.school_id == school_id, Person.external_ref == external_ref)
    )


async def _check_external_ref_free(
    session: AsyncSession, school_id: uuid.UUID, external_ref: str | None, person_id: uuid.UUID | None
) -> None:
    if external_ref is None:
        return
    other = await find_by_external_ref(session, school_id, external_ref)
    if other is not None and other.id != person_id:
        raise ExternalRefTaken("Another person of this school has this external_ref.")


async def person_changed(
    session: AsyncSession,
    person: Person,
    *,
    actor: Principal | str,
    action: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    audited: bool = True,
) -> None:
    """Audit a change to a person and record it in the feed (after the change is flushed)."""
    await session.flush()
    if audited:
        await audit.record(
            session,
            actor=actor,
            action=action,
            target_type="person",
            target_id=person.id,
            school_id=person.school_id,
            detail=detail or {},
            at=now,
        )
    await record_change(session, kind="person", entity_id=person.id, at=now)


async def create_person(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    body: PersonCreate,
    actor: Principal | str,
    now: datetime,
    audited: bool = True,
) -> Person:
    await _check_external_ref_free(session, school_id, body.external_ref, None)
    person = Person(
        school_id=school_id,
        kind=body.kind,
        given_name=body.given_name,
        family_name=body.family_name,
        year_group=body.year_group,
        external_ref=body.external_ref,
        date_of_birth=body.date_of_birth,
        is_on_roll=True,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(person)
    await person_changed(
        session,
        person,
        actor=actor,
        action="person.created",
        now=now,
        detail={"kind": person.kind},
        audited=audited,
    )
    return person


async def update_person(
    session: AsyncSession,
    person: Person,
    *,
    body: PersonUpdate,
    actor: Principal | str,
    now: datetime,
    audited: bool = True,
) -> list[str]:
    """Apply the fields sent; returns the names of the fields that changed."""
    sent = body.model_dump(exclude_unset=True)
    for required in ("given_name", "family_name"):
        if required in sent and sent[required] is None:
            raise InvalidPerson(f"{required} cannot be removed.")
    changed = {k: v for k, v in sent.items() if getattr(person, k) != v}
    if not changed:
        return []
    merged = {k: changed.get(k, getattr(person, k)) for k in ("year_group", "external_ref")}
    problem = person_rule_problem(person.kind, merged["year_group"], merged["external_ref"])
    if problem:
        raise InvalidPerson(problem)
    if "external_ref" in changed:
        await _check_external_ref_free(session, person.school_id, changed["external_ref"], person.id)
    for key, value in changed.items():
        setattr(person, key, value)
    person.version += 1
    person.updated_at = now
    await person_changed(
        session,
        person,
        actor=actor,
        action="person.updated",
        now=now,
        detail={"fields": sorted(changed)},
        audited=audited,
    )
    return sorted(changed)


async def deactivate_accounts(session: AsyncSession, person_id: uuid.UUID, *, now: datetime) -> int:
    """A leaver's accounts stop working (their tokens too); returns how many were deactivated."""
    # Accounts are another identity domain, loaded lazily to keep imports one-way.
    try:
        accounts = importlib.import_module("identity.accounts.service")
    except ModuleNotFoundError:
        return 0
    deactivate = getattr(accounts, "deactivate_for_person", None)
    if deactivate is None:
        return 0
    return len(await deactivate(session, person_id, now=now))


async def mark_left(
    session: AsyncSession,
    person: Person,
    *,
    left_on: date,
    actor: Principal | str,
    now: datetime,
    audited: bool = True,
) -> Person:
    if not person.is_on_roll:
        raise AlreadyLeft("This person has already left.")
    person.is_on_roll = False
    person.left_on = left_on
    person.version += 1
    person.updated_at = now
    deactivated = await deactivate_accounts(session, person.id, now=now)
    await person_changed(
        session,
        person,
        actor=actor,
        action="person.left",
        now=now,
        detail={"left_on": left_on.isoformat(), "accounts_deactivated": deactivated},
        audited=audited,
    )
    return person


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_people(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    external_ref: str | None,
    kind: str | None,
    year_group: str | None,
    q: str | None,
    on_roll: bool | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[Person], str | None]:
    """People matching the filters; `school_id` None means every school (platform administrators)."""
    stmt = select(Person)
    if school_id is not None:
        stmt = stmt.where(Person.school_id == school_id)
    if external_ref is not None:
        stmt = stmt.where(Person.external_ref == external_ref)
    if kind is not None:
        stmt = stmt.where(Person.kind == kind)
    if year_group is not None:
        stmt = stmt.where(Person.year_group == year_group)
    if on_roll is not None:
        stmt = stmt.where(Person.is_on_roll == on_roll)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        stmt = stmt.where(
            or_(
                Person.given_name.ilike(pattern, escape="\\"),
                Person.family_name.ilike(pattern, escape="\\"),
            )
        )
    return await paginate(session, stmt, order_by=(Person.created_at, Person.id), cursor=cursor, limit=limit)


# --- carer links ------------------------------------------------------------------------------


async def link_changed(
    session: AsyncSession,
    link: CarerLink,
    *,
    actor: Principal | str,
    action: str,
    now: datetime,
    audited: bool = True,
) -> None:
    await session.flush()
    if audited:
        await audit.record(
            session,
            actor=actor,
            action=action,
            target_type="carer_link",
            target_id=link.id,
            school_id=link.school_id,
            detail={
                "pupil_id": str(link.pupil_id),
                "carer_id": str(link.carer_id),
                "relationship": link.relationship,
                "parental_responsibility": link.has_parental_responsibility,
            },
            at=now,
        )
    await record_change(session, kind="carer_link", entity_id=link.id, at=now)


async def active_link(session: AsyncSession, pupil_id: uuid.UUID, carer_id: uuid.UUID) -> CarerLink | None:
    return await session.scalar(
        select(CarerLink).where(
            CarerLink.pupil_id == pupil_id, CarerLink.carer_id == carer_id, CarerLink.is_active.is_(True)
        )
    )


async def link_carer(
    session: AsyncSession,
    pupil: Person,
    carer: Person,
    *,
    body: CarerLinkCreate,
    actor: Principal | str,
    now: datetime,
    audited: bool = True,
) -> CarerLink:
    if pupil.kind != "pupil":
        raise NotAPupil("Carers are linked to pupils only.")
    if carer.kind not in CARER_KINDS:
        raise NotACarer("A carer must be a person of kind parent.")
    if carer.school_id != pupil.school_id:
        raise PersonNotFound("No such carer.")
    if await active_link(session, pupil.id, carer.id) is not None:
        raise AlreadyLinked("This carer is already linked to this pupil.")
    link = CarerLink(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        carer_id=carer.id,
        relationship=body.relationship,
        has_parental_responsibility=body.parental_responsibility,
        is_active=True,
        created_at=now,
    )
    session.add(link)
    await link_changed(session, link, actor=actor, action="carer_link.created", now=now, audited=audited)
    return link


async def end_link(
    session: AsyncSession, link: CarerLink, *, actor: Principal | str, now: datetime
) -> CarerLink:
    """End a link; it is kept (inactive) as a record that it existed."""
    if not link.is_active:
        raise LinkAlreadyEnded("This link has already ended.")
    link.is_active = False
    link.ended_at = now
    await link_changed(session, link, actor=actor, action="carer_link.ended", now=now)
    return link


async def get_link(session: AsyncSession, pupil_id: uuid.UUID, link_id: uuid.UUID) -> CarerLink | None:
    link = await session.get(CarerLink, link_id)
    return link if link is not None and link.pupil_id == pupil_id else None


async def list_links(
    session: AsyncSession, pupil_id: uuid.UUID, *, active: bool | None, cursor: uuid.UUID | None, limit: int
) -> tuple[list[CarerLink], str | None]:
    stmt = select(CarerLink).where(CarerLink.pupil_id == pupil_id)
    if active is not None:
        stmt = stmt.where(CarerLink.is_active.is_(active))
    return await paginate(
        session, stmt, order_by=(CarerLink.created_at, CarerLink.id), cursor=cursor, limit=limit
    )
