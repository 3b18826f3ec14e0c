"""Routes of the schools API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from identity.schools import service as school_service
from identity.schools.dependencies import SchoolForRead, is_platform_admin, require_platform_admin
from identity.schools.schemas import SchoolCreate, SchoolRead, SchoolUpdate
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.etags import IfMatchRequired, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link

router = APIRouter(prefix="/v1/identity/schools", tags=["schools"])


@router.post("", status_code=201, response_model=SchoolRead)
async def create_school(
    body: SchoolCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("schools:write")],
) -> Response:
    """Create a school (platform administrators)."""
    require_platform_admin(principal)
    if idem.replay is not None:
        return idem.replay
    school = await school_service.create(session, body=body, actor=principal, now=clock.now())
    return await idem.respond(
        SchoolRead.model_validate(school), status_code=201, headers=etag_header(school.version)
    )


@router.get("", response_model=Page[SchoolRead])
async def list_schools(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("schools:read")],
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[SchoolRead]:
    """List the schools the caller may see (their own; every school for platform administrators)."""
    rows, next_cursor = await school_service.list_schools(
        session,
        only=principal.school_id,
        all_schools=is_platform_admin(principal),
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[SchoolRead.model_validate(s) for s in rows], next_cursor=next_cursor)


@router.get("/{school_id}", response_model=SchoolRead)
async def get_school(school: SchoolForRead, response: Response) -> SchoolRead:
    """Read one school."""
    set_etag(response, school.version)
    return SchoolRead.model_validate(school)


@router.patch("/{school_id}", response_model=SchoolRead)
async def update_school(
    school: SchoolForRead,
    body: SchoolUpdate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("schools:write")],
    if_match: IfMatchRequired,
) -> SchoolRead:
    """Change a school's name, URN or LA code (platform administrators; If-Match required)."""
    require_platform_admin(principal)
    if_match.check(school.version)
    school = await school_service.update(session, school, body=body, actor=principal, now=clock.now())
    set_etag(response, school.version)
    return SchoolRead.model_validate(school)
