"""Record-level access to a pupil's consent, as dependencies: staff of the pupil's school, or a
parent with parental responsibility for the pupil. Anyone else is told the pupil does not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from media_consent import people
from media_consent.consent.service import PupilNotFound, find_pupil
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden
from servicekit.models import ReplicaPerson

# The roles that see (and set) the never-publish flag.
RESTRICT_ROLES = ("head_teacher", "safeguarding_lead")


@dataclass(frozen=True)
class PupilAccess:
    pupil: ReplicaPerson
    principal: Principal


def staff_pupil(scope: str) -> Any:
    """A pupil of the caller's school, for a caller holding `scope`."""

    # The scope is a default value, not in the annotation: annotations here are strings (PEP 563)
    # and could not see `scope`. The school comes after it (keyword-only), so a token without the
    # scope is told that first.
    async def dependency(
        pupil_id: uuid.UUID,
        session: SessionDep,
        principal: Principal = Scoped(scope),
        *,
        school_id: CallerSchool,
    ) -> PupilAccess:
        return PupilAccess(await find_pupil(session, school_id, pupil_id), principal)

    return Depends(dependency)


async def _own_child(
    pupil_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:own")],
    school_id: CallerSchool,
) -> PupilAccess:
    """A child of the signed-in parent: an active carer link with parental responsibility."""
    pupil = await find_pupil(session, school_id, pupil_id)
    if principal.person_id is None:
        raise PupilNotFound()
    link = await people.carer_link(session, pupil.id, principal.person_id, needs_responsibility=True)
    if link is None or not link.has_parental_responsibility:
        raise PupilNotFound()
    return PupilAccess(pupil, principal)


OwnChild = Annotated[PupilAccess, Depends(_own_child)]


async def _restricting_principal(principal: Annotated[Principal, Scoped("consent:restrict")]) -> Principal:
    """The safeguarding lead or the head teacher, with the scope."""
    if not sees_restriction(principal):
        raise Forbidden(
            "Only the safeguarding lead or the head teacher may see or change this.", slug="role-required"
        )
    return principal


RestrictingPrincipal = Annotated[Principal, Depends(_restricting_principal)]


async def _restricting_pupil(
    pupil_id: uuid.UUID, session: SessionDep, principal: RestrictingPrincipal, school_id: CallerSchool
) -> PupilAccess:
    """A pupil of the caller's school, for the safeguarding lead or the head teacher only."""
    return PupilAccess(await find_pupil(session, school_id, pupil_id), principal)


RestrictingPupil = Annotated[PupilAccess, Depends(_restricting_pupil)]


def sees_restriction(principal: Principal) -> bool:
    return not principal.is_client and principal.has_role(*RESTRICT_ROLES)
