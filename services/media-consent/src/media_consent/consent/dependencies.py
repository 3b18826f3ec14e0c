"""Record-level access to a pupil's consent, as dependencies: staff of the pupil's school, or a
parent with parental responsibility for the pupil. Anyone else is told the pupil does not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from media_consent import people
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden, NotFound
from servicekit.models import ReplicaPerson

# The roles that see (and set) the never-publish flag.
RESTRICT_ROLES = ("head_teacher", "safeguarding_lead")


class PupilNotFound(NotFound):
    slug = "pupil-not-found"

    def __init__(self) -> None:
        super().__init__("No such pupil in your school.")


class NotBoundToSchool(Forbidden):
    slug = "not-bound-to-school"

    def __init__(self) -> None:
        super().__init__("This needs a token bound to one school.")


@dataclass(frozen=True)
class PupilAccess:
    pupil: ReplicaPerson
    principal: Principal


def school_of(principal: Principal) -> uuid.UUID:
    if principal.school_id is None:
        raise NotBoundToSchool()
    return principal.school_id


async def find_pupil(
    session: Any, principal: Principal, pupil_id: uuid.UUID, *, fresh: bool = False
) -> ReplicaPerson:
    pupil = await people.pupil_of_school(session, pupil_id, school_of(principal), fresh=fresh)
    if pupil is None:
        raise PupilNotFound()
    return pupil


def staff_pupil(scope: str) -> Any:
    """A pupil of the caller's school, for a caller holding `scope`."""

    # The scope is a default value, not in the annotation: annotations here are strings (PEP 563)
    # and could not see `scope`.
    async def dependency(
        pupil_id: uuid.UUID, session: SessionDep, principal: Principal = Scoped(scope)
    ) -> PupilAccess:
        return PupilAccess(await find_pupil(session, principal, pupil_id), principal)

    return Depends(dependency)


async def _own_child(
    pupil_id: uuid.UUID, session: SessionDep, principal: Annotated[Principal, Scoped("consent:own")]
) -> PupilAccess:
    """A child of the signed-in parent: an active carer link with parental responsibility."""
    pupil = await find_pupil(session, principal, pupil_id)
    if principal.person_id is None:
        raise PupilNotFound()
    link = await people.carer_link(session, pupil.id, principal.person_id, needs_responsibility=True)
    if link is None or not link.has_parental_responsibility:
        raise PupilNotFound()
    return PupilAccess(pupil, principal)


OwnChild = Annotated[PupilAccess, Depends(_own_child)]


async def _restricting_pupil(
    pupil_id: uuid.UUID, session: SessionDep, principal: Annotated[Principal, Scoped("consent:restrict")]
) -> PupilAccess:
    """A pupil of the caller's school, for the safeguarding lead or the head teacher only."""
    require_restrict_role(principal)
    return PupilAccess(await find_pupil(session, principal, pupil_id), principal)


def require_restrict_role(principal: Principal) -> None:
    if principal.is_client or not principal.has_role(*RESTRICT_ROLES):
        raise Forbidden(
            "Only the safeguarding lead or the head teacher may see or change this.", slug="role-required"
        )


RestrictingPupil = Annotated[PupilAccess, Depends(_restricting_pupil)]


def sees_restriction(principal: Principal) -> bool:
    return not principal.is_client and principal.has_role(*RESTRICT_ROLES)
