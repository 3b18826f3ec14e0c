"""Loading a path's invitation: one of the caller's school, else 404."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.invitations import service as invitation_service
from identity.invitations.models import Invitation
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import NotFound


class InvitationNotFound(NotFound):
    slug = "invitation-not-found"


async def school_invitation(
    invitation_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("invitations:write")],
) -> Invitation:
    invitation = await invitation_service.get(session, invitation_id)
    if invitation is None or principal.school_id is None or invitation.school_id != principal.school_id:
        raise InvitationNotFound("No such invitation.")
    return invitation


SchoolInvitation = Annotated[Invitation, Depends(school_invitation)]
