"""Record-level access to people and carer links: another school's record is not found."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.people import service as people_service
from identity.people.models import CarerLink, Person
from identity.schools.dependencies import can_reach_school
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep


async def _reachable(session: SessionDep, principal: Principal, person_id: uuid.UUID) -> Person:
    person = await people_service.get_person(session, person_id)
    if person is None or not can_reach_school(principal, person.school_id):
        raise people_service.PersonNotFound("No such person.")
    return person


async def readable_person(
    person_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("people:read")],
) -> Person:
    return await _reachable(session, principal, person_id)


async def writable_person(
    person_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("people:write")],
) -> Person:
    return await _reachable(session, principal, person_id)


async def readable_pupil(
    pupil_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("people:read")],
) -> Person:
    return await _reachable(session, principal, pupil_id)


async def writable_pupil(
    pupil_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("people:write")],
) -> Person:
    return await _reachable(session, principal, pupil_id)


async def writable_link(
    pupil: Annotated[Person, Depends(writable_pupil)],
    link_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
) -> CarerLink:
    link = await people_service.get_link(session, pupil.id, link_id)
    if link is None:
        raise people_service.CarerLinkNotFound("No such carer link.")
    return link


PersonForRead = Annotated[Person, Depends(readable_person)]
PersonForWrite = Annotated[Person, Depends(writable_person)]
PupilForRead = Annotated[Person, Depends(readable_pupil)]
PupilForWrite = Annotated[Person, Depends(writable_pupil)]
LinkForWrite = Annotated[CarerLink, Depends(writable_link)]
