"""Which schools a caller may reach, and the school-level checks every identity domain uses.

A platform administrator reaches every school; anyone else (person or client) only the school in
their token. Another school's record is reported as not found, never as forbidden.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.schools import service as school_service
from identity.schools.models import School
from servicekit.auth import NoSchoolBound, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden, NotFound, Unprocessable


class SchoolNotFound(NotFound):
    slug = "school-not-found"


class NotPlatformAdmin(Forbidden):
    slug = "platform-admin-only"


class SchoolNotYours(Unprocessable):
    slug = "school-not-yours"


def is_platform_admin(principal: Principal) -> bool:
    """A person holding the platform administrator role (never an outside system's client)."""
    return not principal.is_client and principal.has_role("platform_admin")


def require_platform_admin(principal: Principal) -> None:
    if not is_platform_admin(principal):
        raise NotPlatformAdmin("Only a platform administrator may do this.")


def can_reach_school(principal: Principal, school_id: uuid.UUID) -> bool:
    return is_platform_admin(principal) or principal.school_id == school_id


def target_school(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    """The school a write goes to: the caller's own; a platform administrator must name one.

    A caller bound to one school who names another is refused (property-level authorization).
    """
    if is_platform_admin(principal):
        if requested is None:
            raise Unprocessable("A platform administrator must say which school (school_id).")
        return requested
    if principal.school_id is None:
        raise NoSchoolBound()
    if requested is not None and requested != principal.school_id:
        raise SchoolNotYours("school_id must be the caller's own school.")
    return principal.school_id


async def readable_school(
    school_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("schools:read")],
) -> School:
    school = await school_service.get(session, school_id)
    if school is None or not can_reach_school(principal, school.id):
        raise SchoolNotFound("No such school.")
    return school


SchoolForRead = Annotated[School, Depends(readable_school)]
