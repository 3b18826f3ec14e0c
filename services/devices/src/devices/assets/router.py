"""Routes of the hardware inventory: assets, loans to staff, anti-virus scans, disposal, report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from devices import school as people
from devices.assets import service
from devices.assets.dependencies import ValidAsset, ValidLoan
from devices.assets.schemas import (
    AssetCreate,
    AssetKind,
    AssetRead,
    AssetStatus,
    AssetUpdate,
    DisposalCreate,
    DisposalRead,
    LoanCreate,
    LoanRead,
    LoanReturn,
    LoanState,
    ScanCreate,
    ScanRead,
    StaleScanRead,
)
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import NotFound
from servicekit.etags import IfMatchRequired, etag_header, set_etag
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import TEXT_PATTERN

router = APIRouter(prefix="/v1/devices", tags=["hardware"])

DevicesRead = Annotated[Principal, Scoped("devices:read")]
DevicesWrite = Annotated[Principal, Scoped("devices:write")]


@router.post("/assets", status_code=201, response_model=AssetRead)
async def register_asset(
    principal: DevicesWrite,
    body: AssetCreate,
    school_id: CallerSchool,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Add an item of school hardware to the inventory."""
    if idem.replay is not None:
        return idem.replay
    asset = await service.create(session, school_id=school_id, body=body, actor=principal, now=clock.now())
    return await idem.respond(
        AssetRead.model_validate(asset), status_code=201, headers=etag_header(asset.version)
    )


@router.get("/assets", response_model=Page[AssetRead])
async def list_assets(
    principal: DevicesRead,
    request: Request,
    response: Response,
    school_id: CallerSchool,
    session: SessionDep,
    asset_tag: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=50)] = None,
    serial_number: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=100)] = None,
    status: AssetStatus | None = None,
    kind: AssetKind | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[AssetRead]:
    """The inventory, or a look-up by asset tag or serial number."""
    rows, next_cursor = await service.list_assets(
        session,
        school_id=school_id,
        asset_tag=asset_tag,
        serial_number=serial_number,
        status=status,
        kind=kind,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[AssetRead.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.get("/assets/report.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def inventory_report(
    principal: DevicesRead,
    school_id: CallerSchool,
    session: SessionDep,
    include_disposed: bool = True,
) -> Response:
    """The hardware inventory report, as CSV."""
    body = await service.inventory_csv(session, school_id=school_id, include_disposed=include_disposed)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="hardware-inventory.csv"'},
    )


@router.get("/assets/stale-scans", response_model=list[StaleScanRead])
async def list_stale_scans(
    principal: DevicesRead,
    request: Request,
    school_id: CallerSchool,
    session: SessionDep,
    clock: ClockDep,
    max_age_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    kind: AssetKind | None = None,
) -> list[StaleScanRead]:
    """Equipment in use without a clean anti-virus/spyware scan in the last N days."""
    days = max_age_days if max_age_days is not None else request.app.state.settings.scan_max_age_days
    now = clock.now()
    rows = await service.stale_scans(session, school_id=school_id, now=now, max_age_days=days, kind=kind)
    return [StaleScanRead.of(a, now=now) for a in rows]


@router.get("/assets/{asset_id:uuid}", response_model=AssetRead)
async def get_asset(principal: DevicesRead, asset: ValidAsset, response: Response) -> AssetRead:
    """One item of the inventory."""
    set_etag(response, asset.version)
    return AssetRead.model_validate(asset)


# `:uuid`, so /assets/report.csv and /assets/stale-scans are never taken for an asset id (a PATCH to
# them is 405, not a 422 about the id).
@router.patch("/assets/{asset_id:uuid}", response_model=AssetRead)
async def update_asset(
    principal: DevicesWrite,
    asset: ValidAsset,
    body: AssetUpdate,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchRequired,
) -> AssetRead:
    """Change an item (location, status in service / in repair / lost, ...); needs If-Match."""
    if_match.require()
    changed = await service.update_asset(
        session, asset, body=body, actor=principal, now=clock.now(), if_match=if_match
    )
    set_etag(response, changed.version)
    return AssetRead.model_validate(changed)


@router.post("/assets/{asset_id}/loans", status_code=201, response_model=LoanRead)
async def lend_asset(
    principal: DevicesWrite,
    asset: ValidAsset,
    body: LoanCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
) -> Response:
    """Lend an item to a member of staff (a take-home laptop) until a due date."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    today = people.local_date(now, tz)
    loan = await service.lend(session, asset, body=body, actor=principal, now=now, today=today)
    [read] = await service.describe_loans(session, [loan], today=today)
    return await idem.respond(read, status_code=201)


@router.get("/asset-loans", response_model=Page[LoanRead])
async def list_loans(
    principal: DevicesRead,
    request: Request,
    response: Response,
    school_id: CallerSchool,
    session: SessionDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
    state: LoanState | None = None,
    borrower_id: uuid.UUID | None = None,
    asset_id: uuid.UUID | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[LoanRead]:
    """Loans of school equipment; `state=overdue` lists those not back by their due date."""
    today = people.local_date(clock.now(), tz)
    rows, next_cursor = await service.list_loans(
        session,
        school_id=school_id,
        state=state,
        borrower_id=borrower_id,
        asset_id=asset_id,
        today=today,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page(items=await service.describe_loans(session, rows, today=today), next_cursor=next_cursor)


@router.post("/asset-loans/{loan_id}/return", response_model=LoanRead)
async def return_loan(
    principal: DevicesWrite,
    loan: ValidLoan,
    body: LoanReturn,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
) -> Response:
    """Record that lent equipment came back."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    returned = await service.return_loan(session, loan, body=body, actor=principal, now=now)
    [read] = await service.describe_loans(session, [returned], today=people.local_date(now, tz))
    return await idem.respond(read, status_code=200)


@router.post("/assets/{asset_id}/scans", status_code=201, response_model=ScanRead)
async def record_scan(
    principal: DevicesWrite,
    asset: ValidAsset,
    body: ScanCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
) -> Response:
    """Record an anti-virus/spyware scan before the item connects to the network."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    scan = await service.record_scan(session, asset, body=body, actor=principal, now=now)
    return await idem.respond(ScanRead.model_validate(scan), status_code=201)


@router.get("/assets/{asset_id}/scans", response_model=list[ScanRead])
async def list_scans(principal: DevicesRead, asset: ValidAsset, session: SessionDep) -> list[ScanRead]:
    """The item's scans, newest first."""
    return [ScanRead.model_validate(s) for s in await service.list_scans(session, asset)]


@router.post("/assets/{asset_id}/disposal", status_code=201, response_model=DisposalRead)
async def dispose_asset(
    principal: DevicesWrite,
    asset: ValidAsset,
    body: DisposalCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    tz: people.SchoolTimezone,
) -> Response:
    """Record a WEEE disposal: agency, receipt, data destruction and its certificate."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    today = people.local_date(now, tz)
    disposal = await service.dispose(session, asset, body=body, actor=principal, now=now, today=today)
    return await idem.respond(DisposalRead.model_validate(disposal), status_code=201)


@router.get("/assets/{asset_id}/disposal", response_model=DisposalRead)
async def get_disposal(principal: DevicesRead, asset: ValidAsset, session: SessionDep) -> DisposalRead:
    """The disposal record of a disposed item."""
    disposal = await service.get_disposal(session, asset)
    if disposal is None:
        raise NotFound("This item has not been disposed of.", slug="disposal-not-found")
    return DisposalRead.model_validate(disposal)
