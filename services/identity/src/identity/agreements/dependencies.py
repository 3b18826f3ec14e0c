"""Record-level access to agreement versions: another school's version is not found."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.agreements import service as agreement_service
from identity.agreements.models import AgreementVersion
from identity.schools.dependencies import can_reach_school
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep


async def _reachable(session: SessionDep, principal: Principal, version_id: uuid.UUID) -> AgreementVersion:
    version = await agreement_service.get_version(session, version_id)
    if version is None or not can_reach_school(principal, version.school_id):
        raise agreement_service.AgreementNotFound("No such agreement.")
    return version


async def readable_version(
    version_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("agreements:read")],
) -> AgreementVersion:
    return await _reachable(session, principal, version_id)


async def signable_version(
    version_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("agreements:sign")],
) -> AgreementVersion:
    return await _reachable(session, principal, version_id)


VersionForRead = Annotated[AgreementVersion, Depends(readable_version)]
VersionForSign = Annotated[AgreementVersion, Depends(signable_version)]
