"""Routes of the people and carer-link APIs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from identity.people import service as people_service
from identity.people.dependencies import (
    LinkForWrite,
    PersonForRead,
    PersonForWrite,
    PupilForRead,
    PupilForWrite,
)
from identity.people.schemas import (
    CarerLinkCreate,
    CarerLinkRead,
    PersonCreate,
    PersonKind,
    PersonLeave,
    PersonRead,
    PersonUpdate,
    YearGroup,
)
from identity.schools import service as school_service
from identity.schools.dependencies import (
    SchoolNotFound,
    can_reach_school,
    is_platform_admin,
    target_school,
)
from servicekit.app import ClockDep
from servicekit.auth import NoSchoolBound, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.etags import IfMatchRequired, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import TEXT_PATTERN

router = APIRouter(prefix="/v1/identity/people", tags=["people"])


@router.post("", status_code=201, response_model=PersonRead)
async def create_person(
    body: PersonCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("people:write")],
) -> Response:
    """Add a pupil, member of staff, parent, governor or visitor to a school."""
    school_id = target_school(principal, body.school_id)
    if idem.replay is not None:
        return idem.replay
    if await school_service.get(session, school_id) is None:
        raise SchoolNotFound("No such school.")
    person = await people_service.create_person(
        session, school_id=school_id, body=body, actor=principal, now=clock.now()
    )
    return await idem.respond(
        PersonRead.model_validate(person), status_code=201, headers=etag_header(person.version)
    )


@router.get("", response_model=Page[PersonRead])
async def list_people(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("people:read")],
    external_ref: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=50)] = None,
    kind: PersonKind | None = None,
    year_group: YearGroup | None = None,
    q: Annotated[
        str | None, Query(pattern=TEXT_PATTERN, max_length=100, description="Part of a name")
    ] = None,
    on_roll: bool | None = None,
    school_id: Annotated[uuid.UUID | None, Query(description="Platform administrators: one school")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[PersonRead]:
    """Find people of the caller's school (by MIS reference, kind, year group, name, on roll)."""
    scope: uuid.UUID | None
    if is_platform_admin(principal):
        scope = school_id
    elif principal.school_id is None:
        raise NoSchoolBound()
    elif school_id is not None and school_id != principal.school_id:
        raise SchoolNotFound("No such school.")
    else:
        scope = principal.school_id
    rows, next_cursor = await people_service.list_people(
        session,
        school_id=scope,
        external_ref=external_ref,
        kind=kind,
        year_group=year_group,
        q=q,
        on_roll=on_roll,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[PersonRead.model_validate(p) for p in rows], next_cursor=next_cursor)


@router.get("/{person_id:uuid}", response_model=PersonRead)
async def get_person(person: PersonForRead, response: Response) -> PersonRead:
    """Read one person."""
    set_etag(response, person.version)
    return PersonRead.model_validate(person)


# `:uuid`, so /people/imports is never taken for a person id (a PATCH to it is 405, not a 422).
@router.patch("/{person_id:uuid}", response_model=PersonRead)
async def update_person(
    person: PersonForWrite,
    body: PersonUpdate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("people:write")],
    if_match: IfMatchRequired,
) -> PersonRead:
    """Change a person's names, year group, MIS reference or date of birth (If-Match required)."""
    if_match.check(person.version)
    await people_service.update_person(session, person, body=body, actor=principal, now=clock.now())
    set_etag(response, person.version)
    return PersonRead.model_validate(person)


@router.post("/{person_id}/leave", response_model=PersonRead)
async def mark_leaver(
    person: PersonForWrite,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
    principal: Annotated[Principal, Scoped("people:write")],
    body: PersonLeave | None = None,
) -> PersonRead:
    """Mark a person as having left the school (kept, off roll)."""
    now = clock.now()
    left_on = body.left_on if body is not None and body.left_on is not None else now.date()
    await people_service.mark_left(session, person, left_on=left_on, actor=principal, now=now)
    set_etag(response, person.version)
    return PersonRead.model_validate(person)


@router.post("/{pupil_id}/carers", status_code=201, response_model=CarerLinkRead)
async def link_carer(
    pupil: PupilForWrite,
    body: CarerLinkCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("people:write")],
) -> Response:
    """Link a parent or carer to a pupil, with whether they have parental responsibility."""
    if idem.replay is not None:
        return idem.replay
    carer = await people_service.get_person(session, body.carer_id)
    if carer is None or not can_reach_school(principal, carer.school_id):
        raise people_service.PersonNotFound("No such carer.")
    link = await people_service.link_carer(session, pupil, carer, body=body, actor=principal, now=clock.now())
    return await idem.respond(CarerLinkRead.model_validate(link), status_code=201)


@router.get("/{pupil_id}/carers", response_model=Page[CarerLinkRead])
async def list_carers(
    pupil: PupilForRead,
    request: Request,
    response: Response,
    session: SessionDep,
    active: bool | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[CarerLinkRead]:
    """List a pupil's carer links (ended ones too, unless active=true)."""
    rows, next_cursor = await people_service.list_links(
        session, pupil.id, active=active, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[CarerLinkRead.model_validate(link) for link in rows], next_cursor=next_cursor)


@router.post("/{pupil_id}/carers/{link_id}/end", response_model=CarerLinkRead)
async def end_carer_link(
    link: LinkForWrite,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("people:write")],
) -> CarerLinkRead:
    """End a carer link (kept as a record, never deleted)."""
    await people_service.end_link(session, link, actor=principal, now=clock.now())
    return CarerLinkRead.model_validate(link)
