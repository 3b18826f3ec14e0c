"""Routes of the phone custody API (CONTRACT.md, "Phones")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from devices import school as people
from devices.phone_custody import service
from devices.phone_custody.dependencies import SearchOfficer, ValidCustody, can_see_searches
from devices.phone_custody.schemas import (
    CustodyKind,
    CustodyStatus,
    EndOfDayRead,
    PhoneCustodyCreate,
    PhoneCustodyRead,
    PhoneMove,
    PhoneReturn,
    PhoneSearchCreate,
    PhoneSearchRead,
    PoliceHandover,
)
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.etags import IfMatchOptional, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import IsoDate

router = APIRouter(prefix="/v1/devices/phone-custody", tags=["phones"])

PhonesRead = Annotated[Principal, Scoped("phones:read")]
PhonesWrite = Annotated[Principal, Scoped("phones:write")]


@router.post("", status_code=201, response_model=PhoneCustodyRead)
async def register_phone(
    principal: PhonesWrite,
    body: PhoneCustodyCreate,
    school_id: CallerSchool,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Register a phone handed in for the day or confiscated."""
    if idem.replay is not None:
        return idem.replay
    custody = await service.create(session, school_id=school_id, body=body, actor=principal, now=clock.now())
    read = PhoneCustodyRead.of(custody, show_searches=can_see_searches(principal))
    return await idem.respond(read, status_code=201, headers=etag_header(custody.version))


@router.get("", response_model=Page[PhoneCustodyRead])
async def list_phones(
    principal: PhonesRead,
    request: Request,
    response: Response,
    school_id: CallerSchool,
    session: SessionDep,
    tz: people.SchoolTimezone,
    status: CustodyStatus | None = None,
    kind: CustodyKind | None = None,
    pupil_id: uuid.UUID | None = None,
    received_on: Annotated[IsoDate | None, Query(description="The school day (YYYY-MM-DD).")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[PhoneCustodyRead]:
    """List phone custody records, each with its chain of custody."""
    rows, next_cursor = await service.list_records(
        session,
        school_id=school_id,
        status=status,
        kind=kind,
        pupil_id=pupil_id,
        received_on=received_on,
        tz=tz,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    show = can_see_searches(principal)
    return Page(items=[PhoneCustodyRead.of(r, show_searches=show) for r in rows], next_cursor=next_cursor)


@router.get("/end-of-day", response_model=EndOfDayRead)
async def end_of_day(
    principal: PhonesRead,
    school_id: CallerSchool,
    session: SessionDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
    request: Request,
    confiscation_days: Annotated[int | None, Query(ge=0, le=365)] = None,
) -> EndOfDayRead:
    """Daily hand-ins still held, and confiscations held longer than N days."""
    days = (
        confiscation_days if confiscation_days is not None else request.app.state.settings.confiscation_days
    )
    now = clock.now()
    handins, overdue = await service.end_of_day(session, school_id=school_id, now=now, confiscation_days=days)
    show = can_see_searches(principal)
    return EndOfDayRead(
        day=people.local_date(now, tz),
        confiscation_days=days,
        daily_handins_held=[PhoneCustodyRead.of(r, show_searches=show) for r in handins],
        confiscations_held_over=[PhoneCustodyRead.of(r, show_searches=show) for r in overdue],
    )


@router.get("/{custody_id}", response_model=PhoneCustodyRead)
async def get_phone(principal: PhonesRead, custody: ValidCustody, response: Response) -> PhoneCustodyRead:
    """One phone custody record with its chain of custody."""
    set_etag(response, custody.version)
    return PhoneCustodyRead.of(custody, show_searches=can_see_searches(principal))


@router.post("/{custody_id}/moves", response_model=PhoneCustodyRead)
async def move_phone(
    principal: PhonesWrite,
    custody: ValidCustody,
    body: PhoneMove,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Record that a held phone was moved to another storage place."""
    if idem.replay is not None:
        return idem.replay
    moved = await service.move(
        session, custody, body=body, actor=principal, now=clock.now(), if_match=if_match
    )
    read = PhoneCustodyRead.of(moved, show_searches=can_see_searches(principal))
    return await idem.respond(read, status_code=200, headers=etag_header(moved.version))


@router.post("/{custody_id}/return", response_model=PhoneCustodyRead)
async def return_phone(
    principal: PhonesWrite,
    custody: ValidCustody,
    body: PhoneReturn,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Return a daily hand-in to its pupil or a carer, or release a confiscated phone to a carer."""
    if idem.replay is not None:
        return idem.replay
    returned = await service.return_phone(
        session, custody, body=body, actor=principal, now=clock.now(), if_match=if_match
    )
    read = PhoneCustodyRead.of(returned, show_searches=can_see_searches(principal))
    return await idem.respond(read, status_code=200, headers=etag_header(returned.version))


@router.post("/{custody_id}/police-handover", response_model=PhoneCustodyRead)
async def hand_phone_to_police(
    principal: SearchOfficer,
    custody: ValidCustody,
    body: PoliceHandover,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Record that a held phone was handed to the police."""
    if idem.replay is not None:
        return idem.replay
    handed = await service.hand_to_police(
        session, custody, body=body, actor=principal, now=clock.now(), if_match=if_match
    )
    read = PhoneCustodyRead.of(handed, show_searches=True)
    return await idem.respond(read, status_code=200, headers=etag_header(handed.version))


@router.post("/{custody_id}/searches", status_code=201, response_model=PhoneSearchRead)
async def record_search(
    principal: SearchOfficer,
    custody: ValidCustody,
    body: PhoneSearchCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    if_match: IfMatchOptional,
) -> Response:
    """Record a search of a held phone, authorised by the head teacher."""
    if idem.replay is not None:
        return idem.replay
    search = await service.record_search(
        session, custody, body=body, actor=principal, now=clock.now(), if_match=if_match
    )
    return await idem.respond(PhoneSearchRead.model_validate(search), status_code=201)


@router.get("/{custody_id}/searches", response_model=list[PhoneSearchRead])
async def list_searches(
    principal: SearchOfficer, custody: ValidCustody, session: SessionDep, clock: ClockDep
) -> list[PhoneSearchRead]:
    """The searches of a phone (head teacher and safeguarding lead only)."""
    searches = await service.list_searches(session, custody, actor=principal, now=clock.now())
    return [PhoneSearchRead.model_validate(s) for s in searches]
