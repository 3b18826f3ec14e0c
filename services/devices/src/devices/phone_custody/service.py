"""Phone custody: register, move, search, return or release, hand to the police.

Every step appends an event and bumps the record's version with one conditional UPDATE that only
matches a held phone. On PostgreSQL a second, concurrent step waits on that row and then finds it
no longer held; on SQLite transactions begin IMMEDIATE and run one at a time. Either way, two
returns of one phone cannot both succeed. Each step writes its audit entry beside it (the actor
is passed as `actor=`), and so does each read of a phone's searches.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from devices import school as people
from devices.phone_custody.models import PhoneCustody, PhoneCustodyEvent, PhoneSearch
from devices.phone_custody.schemas import (
    PhoneCustodyCreate,
    PhoneMove,
    PhoneReturn,
    PhoneSearchCreate,
    PoliceHandover,
)
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.etags import IfMatch, StaleETag, etag
from servicekit.pagination import paginate


class PhoneCustodyNotFound(NotFound):
    slug = "phone-custody-not-found"


class PhoneNotHeld(Conflict):
    slug = "phone-not-held"


class ReturnNotAllowed(Unprocessable):
    slug = "return-not-allowed"


def _with_events() -> Select[PhoneCustody]:
    return select(PhoneCustody).options(selectinload(PhoneCustody.events))


async def get(session: AsyncSession, *, school_id: uuid.UUID, custody_id: uuid.UUID) -> PhoneCustody | None:
    """One record with its events, in one statement (lists use `_with_events`: one more per page)."""
    rows = await session.scalars(
        select(PhoneCustody)
        .options(joinedload(PhoneCustody.events))
        .where(PhoneCustody.id == custody_id, PhoneCustody.school_id == school_id)
        .execution_options(populate_existing=True)
    )
    return rows.unique().one_or_none()


async def create(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    body: PhoneCustodyCreate,
    actor: Principal,
    now: datetime,
) -> PhoneCustody:
    pupil_id, kind, storage_location = body.pupil_id, body.kind, body.storage_location
    await people.require_pupil(session, school_id, pupil_id)
    by = people.actor_ref(actor)
    custody = PhoneCustody(
        id=uuid.uuid4(),
        school_id=school_id,
        pupil_id=pupil_id,
        kind=kind,
        status="held",
        description=body.description,
        storage_location=storage_location,
        reason=body.reason,
        received_at=now,
        received_by=by,
        version=1,
        updated_at=now,
        # The first event is built with the record: one flush writes both, and the answer needs
        # no read back (every column is set here; none has a database default).
        events=[PhoneCustodyEvent(position=1, kind="received", at=now, by=by, location=storage_location)],
    )
    session.add(custody)
    await session.flush()
    detail = {"pupil_id": str(pupil_id), "storage_location": storage_location}
    await people.record_audit(
        session, actor, f"phone.{kind}.received", custody, target_type="phone_custody", now=now, detail=detail
    )
    return custody


async def list_records(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    status: str | None,
    kind: str | None,
    pupil_id: uuid.UUID | None,
    received_on: date | None,
    tz: ZoneInfo,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[PhoneCustody], str | None]:
    stmt = _with_events().where(PhoneCustody.school_id == school_id)
    if status is not None:
        stmt = stmt.where(PhoneCustody.status == status)
    if kind is not None:
        stmt = stmt.where(PhoneCustody.kind == kind)
    if pupil_id is not None:
        stmt = stmt.where(PhoneCustody.pupil_id == pupil_id)
    if received_on is not None:
        start, end = people.day_bounds(received_on, tz)
        stmt = stmt.where(PhoneCustody.received_at >= start, PhoneCustody.received_at < end)
    return await paginate(
        session, stmt, order_by=(PhoneCustody.received_at, PhoneCustody.id), cursor=cursor, limit=limit
    )


async def end_of_day(
    session: AsyncSession, *, school_id: uuid.UUID, now: datetime, confiscation_days: int
) -> tuple[list[PhoneCustody], list[PhoneCustody]]:
    """Daily hand-ins still held (of any day), and confiscations held longer than the given days."""
    held = _with_events().where(PhoneCustody.school_id == school_id, PhoneCustody.status == "held")
    order = (PhoneCustody.received_at, PhoneCustody.id)
    handins = await session.scalars(held.where(PhoneCustody.kind == "daily_handin").order_by(*order))
    cutoff = now - timedelta(days=confiscation_days)
    overdue = await session.scalars(
        held.where(PhoneCustody.kind == "confiscation", PhoneCustody.received_at < cutoff).order_by(*order)
    )
    return list(handins.all()), list(overdue.all())


async def _advance(
    session: AsyncSession,
    custody: PhoneCustody,
    *,
    now: datetime,
    if_match: IfMatch,
    event: dict[str, Any],
    changes: dict[str, Any] | None = None,
) -> PhoneCustody:
    """Take the next step of a held phone: one conditional UPDATE, then the appended event."""
    stmt = (
        update(PhoneCustody)
        .where(PhoneCustody.id == custody.id, PhoneCustody.status == "held")
        .values(version=PhoneCustody.version + 1, updated_at=now, **(changes or {}))
        .returning(PhoneCustody.version)
        .execution_options(synchronize_session=False)
    )
    if if_match.sent:
        # Only from the version the caller read; a tag naming another matches no row (412 below).
        stmt = stmt.where(
            PhoneCustody.version == custody.version if if_match.matches(custody.version) else false()
        )
    version = (await session.execute(stmt)).scalar_one_or_none()
    if version is None:
        current = await get(session, school_id=custody.school_id, custody_id=custody.id)
        if current is None or current.status != "held":
            raise PhoneNotHeld("This phone is no longer held by the school.")
        raise StaleETag(etag(current.version))
    appended = PhoneCustodyEvent(custody_id=custody.id, position=version, at=now, **event)
    session.add(appended)
    await session.flush()
    if version != custody.version + 1:
        # Another step came between this request's read and its UPDATE: read what is stored.
        loaded = await get(session, school_id=custody.school_id, custody_id=custody.id)
        assert loaded is not None
        return loaded
    # Every step bumps the version by one and appends one event, so the record as read plus this
    # step is the record as stored: no read back (set as loaded, so nothing is written again).
    for name, value in {"version": version, "updated_at": now, **(changes or {})}.items():
        set_committed_value(custody, name, value)
    set_committed_value(custody, "events", [*custody.events, appended])
    return custody


def _ensure_held(custody: PhoneCustody) -> None:
    if custody.status != "held":
        raise PhoneNotHeld(
            f"This phone is not held by the school (it was {custody.status.replace('_', ' ')})."
        )


async def move(
    session: AsyncSession,
    custody: PhoneCustody,
    *,
    body: PhoneMove,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> PhoneCustody:
    _ensure_held(custody)
    storage_location, note = body.storage_location, body.note
    moved = await _advance(
        session,
        custody,
        now=now,
        if_match=if_match,
        event={"kind": "moved", "by": people.actor_ref(actor), "location": storage_location, "note": note},
        changes={"storage_location": storage_location},
    )
    await people.record_audit(
        session,
        actor,
        "phone.moved",
        custody,
        target_type="phone_custody",
        now=now,
        detail={"storage_location": storage_location},
    )
    return moved


async def return_phone(
    session: AsyncSession,
    custody: PhoneCustody,
    *,
    body: PhoneReturn,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> PhoneCustody:
    """A daily hand-in back to its pupil or a carer; a confiscated phone only to a carer with PR."""
    _ensure_held(custody)
    to_person_id = body.to_person_id
    if custody.kind == "daily_handin":
        # Back to the pupil needs no lookup (and so no call to identity when the replica misses).
        if (
            to_person_id != custody.pupil_id
            and await people.carer_link(session, custody.school_id, custody.pupil_id, to_person_id) is None
        ):
            raise ReturnNotAllowed(
                "A phone handed in for the day goes back only to its pupil or one of the pupil's carers."
            )
        status = "returned"
    else:
        # Never to the pupil: no lookup (no call to identity) can change that.
        link = (
            None
            if to_person_id == custody.pupil_id
            else await people.carer_link(
                session, custody.school_id, custody.pupil_id, to_person_id, needs_responsibility=True
            )
        )
        if link is None or not link.has_parental_responsibility:
            raise ReturnNotAllowed(
                "A confiscated phone is released only to a carer with parental responsibility for this pupil."
            )
        status = "released"
    returned = await _advance(
        session,
        custody,
        now=now,
        if_match=if_match,
        event={
            "kind": status,
            "by": people.actor_ref(actor),
            "location": custody.storage_location,
            "to_person_id": to_person_id,
            "note": body.note,
        },
        changes={"status": status, "closed_at": now, "closed_to_person_id": to_person_id},
    )
    await people.record_audit(
        session,
        actor,
        f"phone.{status}",
        custody,
        target_type="phone_custody",
        now=now,
        detail={"to_person_id": str(to_person_id)},
    )
    return returned


async def hand_to_police(
    session: AsyncSession,
    custody: PhoneCustody,
    *,
    body: PoliceHandover,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> PhoneCustody:
    _ensure_held(custody)
    text = f"Handed to {body.officer_name}, police reference {body.police_reference}."
    if body.note:
        text = f"{text} {body.note}"
    handed = await _advance(
        session,
        custody,
        now=now,
        if_match=if_match,
        event={
            "kind": "handed_to_police",
            "by": people.actor_ref(actor),
            "location": custody.storage_location,
            "note": text,
        },
        changes={"status": "handed_to_police", "closed_at": now},
    )
    detail = {"police_reference": body.police_reference}
    await people.record_audit(
        session, actor, "phone.handed_to_police", custody, target_type="phone_custody", now=now, detail=detail
    )
    return handed


async def record_search(
    session: AsyncSession,
    custody: PhoneCustody,
    *,
    body: PhoneSearchCreate,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> PhoneSearch:
    """A search of a held phone, authorised by a head teacher of the phone's school."""
    _ensure_held(custody)
    authorised_by = body.authorised_by
    await people.require_head_teacher(session, custody.school_id, authorised_by, field="authorised_by")
    by = people.actor_ref(actor)
    await _advance(
        session,
        custody,
        now=now,
        if_match=if_match,
        event={"kind": "searched", "by": by, "location": custody.storage_location},
    )
    search = PhoneSearch(
        custody_id=custody.id,
        school_id=custody.school_id,
        authorised_by=authorised_by,
        searched_by=by,
        searched_at=now,
        reason=body.reason,
        outcome=body.outcome,
        findings=body.findings,
    )
    session.add(search)
    await session.flush()
    detail = {"search_id": str(search.id), "authorised_by": str(authorised_by), "outcome": body.outcome}
    await people.record_audit(
        session, actor, "phone.searched", custody, target_type="phone_custody", now=now, detail=detail
    )
    return search


async def list_searches(
    session: AsyncSession, custody: PhoneCustody, *, actor: Principal, now: datetime
) -> list[PhoneSearch]:
    """The searches of a phone; reading them (restricted records) is audited too."""
    rows = await session.scalars(
        select(PhoneSearch)
        .where(PhoneSearch.custody_id == custody.id, PhoneSearch.school_id == custody.school_id)
        .order_by(PhoneSearch.searched_at, PhoneSearch.id)
    )
    await people.record_audit(
        session, actor, "phone_search.read", custody, target_type="phone_custody", now=now
    )
    return list(rows.all())
