"""The roll import route (the school's MIS keeps the roll in step)."""

from __future__ import annotations

import uuid
from typing import Annotated, get_args

from fastapi import APIRouter, Query, Request, Response

from identity.imports import service as import_service
from identity.imports.schemas import MAX_ROWS, ImportReport
from identity.people.schemas import PersonKind, YearGroup
from identity.schools import service as school_service
from identity.schools.dependencies import SchoolNotFound, target_school
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.idempotency import IdempotencyDep

router = APIRouter(prefix="/v1/identity/people/imports", tags=["people"])

ROW_SCHEMA = {
    "type": "object",
    "properties": {
        "external_ref": {"type": "string", "maxLength": 50},
        "kind": {"enum": list(get_args(PersonKind))},
        "given_name": {"type": "string", "maxLength": 100},
        "family_name": {"type": "string", "maxLength": 100},
        "year_group": {"enum": [*get_args(YearGroup), None]},
        "date_of_birth": {"type": "string", "format": "date"},
        "carer_of": {"type": "string", "maxLength": 50},
        "relationship": {"type": "string", "maxLength": 50},
        "parental_responsibility": {"type": "boolean"},
    },
    "required": ["external_ref", "kind", "given_name", "family_name"],
    "additionalProperties": False,
}

OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "external_ref,kind,given_name,family_name,year_group,carer_of,"
                "relationship,parental_responsibility\n"
                "B801200005001,pupil,Ada,Lovelace,3,,,\n"
                "P-1001,parent,Anne,Lovelace,,B801200005001,mother,true\n",
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "maxItems": MAX_ROWS, "items": ROW_SCHEMA}},
                    "required": ["rows"],
                    "additionalProperties": False,
                }
            },
        },
    }
}


@router.post("", response_model=ImportReport, openapi_extra=OPENAPI_BODY)
async def import_roll(
    request: Request,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("people:import")],
    dry_run: bool = False,
    mark_absent_as_left: bool = False,
    school_id: Annotated[
        uuid.UUID | None, Query(description="Platform administrators: the school to import into")
    ] = None,
) -> Response:
    """Import the school's roll (CSV or JSON): a line per row, created, updated, unchanged or refused."""
    target = target_school(principal, school_id)
    if idem.replay is not None:
        return idem.replay
    if await school_service.get(session, target) is None:
        raise SchoolNotFound("No such school.")
    rows = import_service.parse_roll(await request.body(), request.headers.get("content-type", ""))
    report = await import_service.run_import(
        session,
        school_id=target,
        rows=rows,
        dry_run=dry_run,
        mark_absent_as_left=mark_absent_as_left,
        actor=principal,
        now=clock.now(),
    )
    return await idem.respond(report, status_code=200)
