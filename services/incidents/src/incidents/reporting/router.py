"""Routes of LA reporting: the export feed and the counts (governors, the LA, the school's leads)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from incidents.reporting import service as reporting_service
from incidents.reporting.pseudonym import Pseudonymiser
from incidents.reporting.schemas import ExportPage, Stats
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.feeds import FeedCursorParam
from servicekit.params import IsoDate

router = APIRouter(prefix="/v1/incidents", tags=["reporting"])

ExportLimit = Annotated[
    int, Query(ge=1, le=100_000, description="Incidents per page (default 1000, at most 100000).")
]


@router.get(
    "/export",
    response_model=ExportPage,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with X-Next-Cursor"}},
)
async def export_incidents(
    request: Request,
    principal: Annotated[Principal, Scoped("incidents:export")],
    session: SessionDep,
    cursor: FeedCursorParam = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    limit: ExportLimit = 1000,
) -> StreamingResponse:
    """Pull incidents created or changed after the cursor, pseudonymised (LA reporting)."""
    plan = await reporting_service.plan_page(session, principal, cursor=cursor, limit=limit, format=format)
    la_codes = await reporting_service.school_la_codes(session)
    settings = request.app.state.settings
    pseudonymise: Pseudonymiser | None = getattr(request.app.state, "pseudonymiser", None)
    if pseudonymise is None:
        pseudonymise = Pseudonymiser(settings.pseudonym_secret.get_secret_value().encode())
        request.app.state.pseudonymiser = pseudonymise
    exporter = reporting_service.Exporter(
        request.app.state.sessionmaker,
        principal,
        plan,
        pseudonymise=pseudonymise,
        la_codes=la_codes,
        chunk=settings.export_chunk_rows,
    )
    headers = {
        "X-Next-Cursor": plan.next_cursor,
        "X-Has-More": "true" if plan.has_more else "false",
        "X-Remaining": str(plan.remaining),
        "Cache-Control": "no-store",
    }
    if format == "csv":
        headers["Content-Disposition"] = 'attachment; filename="incidents.csv"'
        return StreamingResponse(exporter.csv_body(), media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(exporter.json_body(), media_type="application/json", headers=headers)


# One or more of the groupings, repeated (group_by=category&group_by=month) or comma-separated.
GroupBy = Annotated[
    str,
    StringConstraints(
        max_length=100, pattern=r"^(category|month|year_group|school)(,(category|month|year_group|school))*$"
    ),
]


@router.get("/stats", response_model=Stats, response_model_exclude_none=True)
async def incident_stats(
    principal: Annotated[Principal, Scoped("incidents:stats")],
    session: SessionDep,
    from_: Annotated[IsoDate | None, Query(alias="from")] = None,
    to: Annotated[IsoDate | None, Query()] = None,
    group_by: Annotated[list[GroupBy] | None, Query(max_length=4)] = None,
) -> Stats:
    """Count incidents by category, month, year group or school (whole months, rounded, small withheld)."""
    groups = reporting_service.parse_group_by([g[:100] for g in group_by or []])
    return await reporting_service.stats(session, principal, start=from_, end=to, group_by=groups)
