"""The never-publish flag: seen and changed only by the safeguarding lead and the head teacher."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from media_consent.consent.dependencies import RestrictingPupil, require_restrict_role, school_of
from media_consent.restriction import service as restriction_service
from media_consent.restriction.models import NeverPublish
from media_consent.restriction.schemas import FlaggedPupil, NeverPublishRead, NeverPublishSet
from servicekit import audit
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep

router = APIRouter(prefix="/v1/media-consent", tags=["never publish"])


@router.get("/pupils/{pupil_id}/never-publish", response_model=NeverPublishRead)
async def get_never_publish(
    session: SessionDep, clock: ClockDep, access: RestrictingPupil
) -> NeverPublishRead:
    """Whether this pupil's image must never be published."""
    row = await session.get(NeverPublish, access.pupil.id)
    await audit.record(
        session,
        actor=access.principal,
        action="consent.never_publish.read",
        target_type="pupil",
        target_id=access.pupil.id,
        school_id=access.pupil.school_id,
        at=clock.now(),
    )
    return restriction_service.read(access.pupil.id, row)


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
    session: SessionDep, clock: ClockDep, principal: Annotated[Principal, Scoped("consent:restrict")]
) -> list[FlaggedPupil]:
    """Every pupil of your school whose image must never be published."""
    require_restrict_role(principal)
    school_id = school_of(principal)
    rows = await restriction_service.flagged(session, school_id)
    await audit.record(
        session,
        actor=principal,
        action="consent.never_publish.listed",
        target_type="school",
        target_id=school_id,
        school_id=school_id,
        detail={"count": len(rows)},
        at=clock.now(),
    )
    return [
        FlaggedPupil(
            pupil_id=p.id,
            given_name=p.given_name,
            family_name=p.family_name,
            year_group=p.year_group,
            set_by=flag.set_by,
            set_at=flag.set_at,
        )
        for flag, p in rows
    ]
