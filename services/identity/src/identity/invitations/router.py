"""Invitations API: /v1/identity/invitations (the office and the head teacher)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response

from identity.invitations import service as invitation_service
from identity.invitations.dependencies import SchoolInvitation
from identity.invitations.schemas import InvitationCreate, InvitationCreated, InvitationRead, InvitationStatus
from identity.paths import INVITATION_PAGE
from identity.security.state import SecurityDep
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.urls import public_url

router = APIRouter(prefix="/v1/identity/invitations", tags=["invitations"])

Inviter = Annotated[Principal, Scoped("invitations:write")]


@router.post("", status_code=201, response_model=InvitationCreated)
async def create_invitation(
    request: Request,
    body: InvitationCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Inviter,
    school_id: CallerSchool,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Invite a carer with parental responsibility to make a parent account (single use).

    The code and link are in this response only (a retry with the same Idempotency-Key replays it
    without them: revoke that invitation and issue another).
    """
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    invitation, code = await invitation_service.issue(
        session,
        school_id=school_id,
        carer_id=body.carer_id,
        email=body.email,
        actor=principal,
        now=now,
        valid_for=timedelta(days=sec.settings.invitation_days),
    )
    read = InvitationRead.of(invitation, now=now)
    location = {"Location": public_url(request, f"/v1/identity/invitations/{invitation.id}")}
    # The replay kept for the Idempotency-Key never holds the code: secrets are not stored in clear.
    await idem.respond(InvitationCreated(**read.model_dump()), status_code=201, headers=location)
    created = InvitationCreated(
        **read.model_dump(), code=code, url=public_url(request, INVITATION_PAGE, f"code={code}")
    )
    return Response(
        created.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={**location, "Cache-Control": "no-store"},
    )


@router.get("", response_model=Page[InvitationRead])
async def list_invitations(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Inviter,
    school_id: CallerSchool,
    clock: ClockDep,
    carer_id: uuid.UUID | None = None,
    status: InvitationStatus | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[InvitationRead]:
    """The school's invitations, oldest first (filter by carer or status)."""
    now = clock.now()
    rows, next_cursor = await invitation_service.list_invitations(
        session, school_id=school_id, carer_id=carer_id, status=status, now=now, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page[InvitationRead](items=[InvitationRead.of(r, now=now) for r in rows], next_cursor=next_cursor)


@router.get("/{invitation_id}", response_model=InvitationRead)
async def read_invitation(invitation: SchoolInvitation, clock: ClockDep) -> InvitationRead:
    """One invitation: pending, used (by which account, when), revoked or expired."""
    return InvitationRead.of(invitation, now=clock.now())


@router.post("/{invitation_id}/revoke", response_model=InvitationRead)
async def revoke_invitation(
    invitation: SchoolInvitation, session: SessionDep, principal: Inviter, clock: ClockDep
) -> InvitationRead:
    """Withdraw a pending invitation: its code stops working at once."""
    now = clock.now()
    await invitation_service.revoke(session, invitation, actor=principal, now=now)
    return InvitationRead.of(invitation, now=now)
