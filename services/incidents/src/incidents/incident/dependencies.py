"""Access to one incident, as dependencies: another school's incident, or one the caller may not
see, is 404 (telling that it exists would leak it). Every read of a restricted incident is audited.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from incidents.incident import service as incident_service
from incidents.incident.models import Incident
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep

IncidentId = Annotated[uuid.UUID, Path(description="The incident's id.")]
Reader = Annotated[Principal, Scoped("incidents:read")]
Writer = Annotated[Principal, Scoped("incidents:write")]
Reporter = Annotated[Principal, Scoped("incidents:report")]


async def readable_incident(incident_id: IncidentId, principal: Reader, session: SessionDep) -> Incident:
    incident = await incident_service.get_visible(session, principal, incident_id)
    await incident_service.record_restricted_reads(session, principal, [incident], how="get")
    return incident


async def writable_incident(incident_id: IncidentId, principal: Writer, session: SessionDep) -> Incident:
    # Locked until commit, so two changes made from the same ETag cannot both pass the If-Match check.
    return await incident_service.get_visible(session, principal, incident_id, for_update=True)


ReadableIncident = Annotated[Incident, Depends(readable_incident)]
WritableIncident = Annotated[Incident, Depends(writable_incident)]
