"""Record-level access to phone custody: the caller's school only, searches for the head and DSL."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from devices.phone_custody import service
from devices.phone_custody.models import PhoneCustody
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden

SEARCH_ROLES = ("head_teacher", "safeguarding_lead")


async def valid_custody_id(
    custody_id: uuid.UUID, school_id: CallerSchool, session: SessionDep
) -> PhoneCustody:
    """The record, if it belongs to the caller's school; another school's is 404 like a missing one."""
    custody = await service.get(session, school_id=school_id, custody_id=custody_id)
    if custody is None:
        raise service.PhoneCustodyNotFound("No phone custody record with this id.")
    return custody


ValidCustody = Annotated[PhoneCustody, Depends(valid_custody_id)]


def can_see_searches(principal: Principal) -> bool:
    return principal.has_scope("phones:search") and principal.has_role(*SEARCH_ROLES)


async def search_officer(principal: Annotated[Principal, Scoped("phones:search")]) -> Principal:
    """Searches are recorded and read only by the head teacher and the safeguarding lead."""
    if not principal.has_role(*SEARCH_ROLES):
        raise Forbidden("Only the head teacher and the safeguarding lead deal with phone searches.")
    return principal


SearchOfficer = Annotated[Principal, Depends(search_officer)]
