"""The never-publish flag: seen and changed only by the safeguarding lead and the head teacher."""

from __future__ import annotations

from fastapi import APIRouter

from media_consent.consent.dependencies import RestrictingPrincipal, RestrictingPupil
from media_consent.restriction import service as restriction_service
from media_consent.restriction.schemas import FlaggedPupil, NeverPublishRead, NeverPublishSet
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/media-consent", tags=["never publish"])


@router.get("/pupils/{pupil_id}/never-publish", response_model=NeverPublishRead)
async def get_never_publish(
    session: SessionDep, clock: ClockDep, access: RestrictingPupil
) -> NeverPublishRead:
    """Whether this pupil's image must never be published."""
    return await restriction_service.read_flag(
        session, pupil=access.pupil, actor=access.principal, now=clock.now()
    )


@router.put("/pupils/{pupil_id}/never-publish", response_model=NeverPublishRead)
async def set_never_publish(
    session: SessionDep, clock: ClockDep, access: RestrictingPupil, body: NeverPublishSet | None = None
) -> NeverPublishRead:
    """Mark a pupil whose image must never be published: every check for them is `deny`."""
    row = await restriction_service.set_flag(
        session, pupil=access.pupil, actor=access.principal, now=clock.now()
    )
    return restriction_service.read(access.pupil.id, row)


@router.delete("/pupils/{pupil_id}/never-publish", response_model=NeverPublishRead)
async def clear_never_publish(
    session: SessionDep, clock: ClockDep, access: RestrictingPupil
) -> NeverPublishRead:
    """Clear the never-publish flag: checks follow the pupil's consent again."""
    row = await restriction_service.clear_flag(
        session, pupil=access.pupil, actor=access.principal, now=clock.now()
    )
    return restriction_service.read(access.pupil.id, row)


@router.get("/never-publish", response_model=list[FlaggedPupil])
async def list_never_publish(
    session: SessionDep, clock: ClockDep, principal: RestrictingPrincipal, school_id: CallerSchool
) -> list[FlaggedPupil]:
    """Every pupil of your school whose image must never be published."""
    return await restriction_service.flagged(session, school_id=school_id, actor=principal, now=clock.now())
