"""Routes of the incident log: report, read, change, chronology, evidence, history. Never delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from incidents.incident import service as incident_service
from incidents.incident.constants import Category, Status
from incidents.incident.dependencies import (
    ReadableIncident,
    Reader,
    Reporter,
    WritableIncident,
    Writer,
)
from incidents.incident.schemas import (
    ActionCreate,
    ActionRead,
    EvidenceCreate,
    EvidenceRead,
    HistoryRead,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    PeopleAdd,
)
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool
from servicekit.db import SessionDep
from servicekit.etags import IfMatchRequired, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.urls import public_url

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


def _etagged(incident: ReadableIncident, response: Response) -> IncidentRead:
    set_etag(response, incident.version, record_id=incident.id)
    return IncidentRead.model_validate(incident)


@router.post("", status_code=201, response_model=IncidentRead)
async def report_incident(
    request: Request,
    body: IncidentCreate,
    principal: Reporter,
    school_id: CallerSchool,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Report an e-safety incident."""
    if idem.replay is not None:
        return idem.replay
    incident = await incident_service.create(
        session, actor=principal, school_id=school_id, body=body, now=clock.now()
    )
    return await idem.respond(
        IncidentRead.model_validate(incident),
        status_code=201,
        headers={
            **etag_header(incident.version, record_id=incident.id),
            "Location": public_url(request, f"/v1/incidents/{incident.id}"),
        },
    )


@router.get("", response_model=Page[IncidentRead])
async def list_incidents(
    request: Request,
    response: Response,
    principal: Reader,
    session: SessionDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
) -> Page[IncidentRead]:
    """List the incidents the caller may see, newest first."""
    rows, next_cursor = await incident_service.list_visible(
        session, principal, status=status, category=category, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[IncidentRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{incident_id:uuid}", response_model=IncidentRead)
async def get_incident(incident: ReadableIncident, response: Response) -> IncidentRead:
    """Read one incident."""
    return _etagged(incident, response)


@router.patch("/{incident_id:uuid}", response_model=IncidentRead)
async def update_incident(
    body: IncidentUpdate,
    incident: WritableIncident,
    principal: Writer,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchRequired,
) -> IncidentRead:
    """Change an incident (If-Match required); the change is kept in its history."""
    incident = await incident_service.update(
        session, incident, actor=principal, body=body, if_match=if_match, now=clock.now()
    )
    return _etagged(incident, response)


@router.delete("/{incident_id:uuid}", status_code=409, responses={409: {"description": "Never deleted"}})
async def delete_incident(incident: WritableIncident, principal: Writer, session: SessionDep) -> Response:
    """Refused: incidents are safeguarding records and are never deleted through the API."""
    await incident_service.refuse_delete(session, incident, actor=principal)


@router.post("/{incident_id:uuid}/people", response_model=IncidentRead, status_code=201)
async def add_people(
    body: PeopleAdd,
    incident: WritableIncident,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Name more people in an incident."""
    if idem.replay is not None:
        return idem.replay
    incident = await incident_service.add_people(
        session, incident, actor=principal, body=body, now=clock.now()
    )
    return await idem.respond(
        IncidentRead.model_validate(incident),
        status_code=201,
        headers=etag_header(incident.version, record_id=incident.id),
    )


@router.get("/{incident_id:uuid}/actions", response_model=list[ActionRead])
async def list_actions(incident: ReadableIncident, session: SessionDep) -> list[ActionRead]:
    """The incident's chronology of actions, oldest first."""
    return [ActionRead.model_validate(a) for a in await incident_service.list_actions(session, incident)]


@router.post("/{incident_id:uuid}/actions", response_model=ActionRead, status_code=201)
async def add_action(
    body: ActionCreate,
    incident: WritableIncident,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Add a note, sanction, referral decision, notification or police referral."""
    if idem.replay is not None:
        return idem.replay
    action = await incident_service.add_action(session, incident, actor=principal, body=body, now=clock.now())
    return await idem.respond(
        ActionRead.model_validate(action),
        status_code=201,
        headers=etag_header(incident.version, record_id=incident.id),
    )


@router.get("/{incident_id:uuid}/evidence", response_model=list[EvidenceRead])
async def list_evidence(incident: ReadableIncident, session: SessionDep) -> list[EvidenceRead]:
    """The incident's evidence register."""
    return [EvidenceRead.model_validate(e) for e in await incident_service.list_evidence(session, incident)]


@router.post("/{incident_id:uuid}/evidence", response_model=EvidenceRead, status_code=201)
async def add_evidence(
    body: EvidenceCreate,
    incident: WritableIncident,
    principal: Writer,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Register evidence: what, where it is kept, by whom (never imagery for sexting)."""
    if idem.replay is not None:
        return idem.replay
    evidence = await incident_service.add_evidence(
        session, incident, actor=principal, body=body, now=clock.now()
    )
    return await idem.respond(EvidenceRead.model_validate(evidence), status_code=201)


@router.get("/{incident_id:uuid}/history", response_model=list[HistoryRead])
async def list_history(incident: ReadableIncident, session: SessionDep) -> list[HistoryRead]:
    """Every change of the incident: who, when, what changed."""
    return [HistoryRead.model_validate(h) for h in await incident_service.list_history(session, incident)]
