"""The hardware inventory: register and change equipment, lend it, record scans, dispose of it.

Each change writes its audit entry beside it (the actor is passed as `actor=`). Status changes
that depend on the current status (lending, returning, disposing) are one conditional UPDATE
each, so two concurrent requests cannot both lend or both dispose of an item.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from devices import school as people
from devices.assets.models import Asset, AssetDisposal, AssetLoan, AssetScan
from devices.assets.schemas import (
    AssetCreate,
    AssetUpdate,
    DisposalCreate,
    LoanCreate,
    LoanRead,
    LoanReturn,
    ScanCreate,
)
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.etags import IfMatch, StaleETag, etag
from servicekit.pagination import paginate

ACTIVE_STATUSES = ("in_service", "on_loan", "in_repair")
STORAGE_DESTRUCTION = ("forensic_wipe", "physically_destroyed")
REQUIRED_FIELDS = ("kind", "make", "model", "location", "holds_personal_data", "is_encrypted", "status")


class AssetNotFound(NotFound):
    slug = "asset-not-found"


class LoanNotFound(NotFound):
    slug = "loan-not-found"


class AssetStatusConflict(Conflict):
    slug = "asset-status-conflict"


class DuplicateAssetTag(Conflict):
    slug = "duplicate-asset-tag"


class DisposalRefused(Unprocessable):
    slug = "disposal-refused"


async def get(session: AsyncSession, *, school_id: uuid.UUID, asset_id: uuid.UUID) -> Asset | None:
    return await session.scalar(
        select(Asset)
        .where(Asset.id == asset_id, Asset.school_id == school_id)
        .execution_options(populate_existing=True)
    )


async def _refresh(session: AsyncSession, asset: Asset) -> Asset:
    fresh = await get(session, school_id=asset.school_id, asset_id=asset.id)
    assert fresh is not None
    return fresh


async def _tag_taken(session: AsyncSession, school_id: uuid.UUID, tag: str, but: uuid.UUID | None) -> bool:
    stmt = select(Asset.id).where(Asset.school_id == school_id, Asset.asset_tag == tag)
    if but is not None:
        stmt = stmt.where(Asset.id != but)
    return (await session.scalar(stmt)) is not None


async def create(
    session: AsyncSession, *, school_id: uuid.UUID, body: AssetCreate, actor: Principal, now: datetime
) -> Asset:
    if await _tag_taken(session, school_id, body.asset_tag, None):
        raise DuplicateAssetTag("Another item of this school already has this asset tag.")
    asset = Asset(
        school_id=school_id,
        status="in_service",
        created_at=now,
        updated_at=now,
        version=1,
        **body.model_dump(),
    )
    session.add(asset)
    await session.flush()
    detail = {"asset_tag": asset.asset_tag}
    await people.record_audit(
        session, actor, "asset.registered", asset, target_type="asset", now=now, detail=detail
    )
    return asset


async def list_assets(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    asset_tag: str | None,
    serial_number: str | None,
    status: str | None,
    kind: str | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[Asset], str | None]:
    stmt = select(Asset).where(Asset.school_id == school_id)
    if asset_tag is not None:
        stmt = stmt.where(Asset.asset_tag == asset_tag)
    if serial_number is not None:
        stmt = stmt.where(Asset.serial_number == serial_number)
    if status is not None:
        stmt = stmt.where(Asset.status == status)
    if kind is not None:
        stmt = stmt.where(Asset.kind == kind)
    return await paginate(session, stmt, order_by=(Asset.asset_tag, Asset.id), cursor=cursor, limit=limit)


async def _conditional(
    session: AsyncSession,
    asset: Asset,
    *,
    now: datetime,
    from_statuses: Sequence[str],
    if_match: IfMatch | None = None,
    values: dict[str, Any],
) -> Asset:
    """Change an asset only if it is (still) in one of `from_statuses`; else 409 (or 412 if stale)."""
    stmt = (
        update(Asset)
        .where(Asset.id == asset.id, Asset.status.in_(from_statuses))
        .values(version=Asset.version + 1, updated_at=now, **values)
        .returning(Asset.id)
        .execution_options(synchronize_session=False)
    )
    if if_match is not None and if_match.sent:
        # Only from the version the caller read; a tag naming another matches no row (412 below).
        stmt = stmt.where(Asset.version == asset.version if if_match.matches(asset.version) else false())
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        current = await _refresh(session, asset)
        if current.status not in from_statuses:
            raise AssetStatusConflict(
                f"This item is {current.status.replace('_', ' ')}; that does not allow this change."
            )
        raise StaleETag(etag(current.version))
    return await _refresh(session, asset)


async def update_asset(
    session: AsyncSession,
    asset: Asset,
    *,
    body: AssetUpdate,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> Asset:
    changes = body.model_dump(exclude_unset=True)
    nulls = [name for name in REQUIRED_FIELDS if name in changes and changes[name] is None]
    if nulls:
        raise Unprocessable(f"These fields cannot be emptied: {', '.join(nulls)}.", slug="validation-error")
    if "asset_tag" in changes and await _tag_taken(session, asset.school_id, changes["asset_tag"], asset.id):
        raise DuplicateAssetTag("Another item of this school already has this asset tag.")
    allowed = ("in_service", "in_repair", "lost")
    if "status" in changes and asset.status not in allowed:
        raise AssetStatusConflict(
            f"This item is {asset.status.replace('_', ' ')}; return the loan or see its disposal instead."
        )
    from_statuses = allowed if "status" in changes else (*ACTIVE_STATUSES, "lost")
    changed = await _conditional(
        session,
        asset,
        now=now,
        from_statuses=from_statuses,
        if_match=if_match,
        values=changes,
    )
    detail = {
        k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changes.items() if k != "notes"
    }
    await people.record_audit(
        session, actor, "asset.changed", asset, target_type="asset", now=now, detail=detail
    )
    return changed


async def lend(
    session: AsyncSession,
    asset: Asset,
    *,
    body: LoanCreate,
    actor: Principal,
    now: datetime,
    today: date,
) -> AssetLoan:
    borrower_id, due_on = body.borrower_id, body.due_on
    await people.require_member(
        session, asset.school_id, borrower_id, kinds=people.STAFF_KINDS, field="borrower_id"
    )
    if due_on < today:
        raise Unprocessable("due_on must not be in the past.", slug="validation-error")
    await _conditional(session, asset, now=now, from_statuses=("in_service",), values={"status": "on_loan"})
    loan = AssetLoan(
        school_id=asset.school_id,
        asset_id=asset.id,
        borrower_id=borrower_id,
        purpose=body.purpose,
        lent_at=now,
        lent_by=people.actor_ref(actor),
        due_on=due_on,
    )
    session.add(loan)
    await session.flush()
    detail = {"loan_id": str(loan.id), "borrower_id": str(borrower_id), "due_on": due_on.isoformat()}
    await people.record_audit(
        session, actor, "asset.lent", asset, target_type="asset", now=now, detail=detail
    )
    return loan


async def get_loan(session: AsyncSession, *, school_id: uuid.UUID, loan_id: uuid.UUID) -> AssetLoan | None:
    return await session.scalar(
        select(AssetLoan)
        .where(AssetLoan.id == loan_id, AssetLoan.school_id == school_id)
        .execution_options(populate_existing=True)
    )


async def return_loan(
    session: AsyncSession, loan: AssetLoan, *, body: LoanReturn, actor: Principal, now: datetime
) -> AssetLoan:
    result = await session.execute(
        update(AssetLoan)
        .where(AssetLoan.id == loan.id, AssetLoan.returned_at.is_(None))
        .values(returned_at=now, received_by=people.actor_ref(actor), return_note=body.note)
        .returning(AssetLoan.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        raise AssetStatusConflict("This loan has already been returned.")
    asset = await get(session, school_id=loan.school_id, asset_id=loan.asset_id)
    assert asset is not None
    if asset.status == "on_loan":
        await _conditional(
            session, asset, now=now, from_statuses=("on_loan",), values={"status": "in_service"}
        )
    fresh = await get_loan(session, school_id=loan.school_id, loan_id=loan.id)
    assert fresh is not None
    detail = {"loan_id": str(loan.id)}
    await people.record_audit(
        session, actor, "asset.returned", asset, target_type="asset", now=now, detail=detail
    )
    return fresh


async def list_loans(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    state: str | None,
    borrower_id: uuid.UUID | None,
    asset_id: uuid.UUID | None,
    today: date,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[AssetLoan], str | None]:
    stmt = select(AssetLoan).where(AssetLoan.school_id == school_id)
    if state == "open":
        stmt = stmt.where(AssetLoan.returned_at.is_(None))
    elif state == "overdue":
        stmt = stmt.where(AssetLoan.returned_at.is_(None), AssetLoan.due_on < today)
    elif state == "returned":
        stmt = stmt.where(AssetLoan.returned_at.is_not(None))
    if borrower_id is not None:
        stmt = stmt.where(AssetLoan.borrower_id == borrower_id)
    if asset_id is not None:
        stmt = stmt.where(AssetLoan.asset_id == asset_id)
    return await paginate(
        session, stmt, order_by=(AssetLoan.lent_at, AssetLoan.id), cursor=cursor, limit=limit
    )


async def describe_loans(session: AsyncSession, loans: Sequence[AssetLoan], *, today: date) -> list[LoanRead]:
    tags = {}
    if loans:
        rows = await session.execute(
            select(Asset.id, Asset.asset_tag).where(Asset.id.in_({loan.asset_id for loan in loans}))
        )
        tags = {asset_id: tag for asset_id, tag in rows}
    return [LoanRead.of(loan, asset_tag=tags.get(loan.asset_id, ""), today=today) for loan in loans]


async def record_scan(
    session: AsyncSession,
    asset: Asset,
    *,
    body: ScanCreate,
    actor: Principal,
    now: datetime,
) -> AssetScan:
    scanned_at, result = body.scanned_at, body.result
    if scanned_at > now + timedelta(minutes=5):
        raise Unprocessable("scanned_at must not be in the future.", slug="validation-error")
    values: dict[str, Any] = {}
    if result == "clean" and (asset.last_clean_scan_at is None or scanned_at > asset.last_clean_scan_at):
        values["last_clean_scan_at"] = scanned_at
    await _conditional(session, asset, now=now, from_statuses=(*ACTIVE_STATUSES, "lost"), values=values)
    scan = AssetScan(
        school_id=asset.school_id,
        asset_id=asset.id,
        scanned_at=scanned_at,
        tool=body.tool,
        result=result,
        detail=body.detail,
        recorded_by=people.actor_ref(actor),
        recorded_at=now,
    )
    session.add(scan)
    await session.flush()
    audited = {"scan_id": str(scan.id), "result": result}
    await people.record_audit(
        session, actor, "asset.scanned", asset, target_type="asset", now=now, detail=audited
    )
    return scan


async def list_scans(session: AsyncSession, asset: Asset) -> list[AssetScan]:
    rows = await session.scalars(
        select(AssetScan)
        .where(AssetScan.asset_id == asset.id, AssetScan.school_id == asset.school_id)
        .order_by(AssetScan.scanned_at.desc(), AssetScan.id)
    )
    return list(rows.all())


async def stale_scans(
    session: AsyncSession, *, school_id: uuid.UUID, now: datetime, max_age_days: int, kind: str | None
) -> list[Asset]:
    """Equipment in use whose last clean scan is older than `max_age_days`, or that was never scanned."""
    cutoff = now - timedelta(days=max_age_days)
    stmt = select(Asset).where(
        Asset.school_id == school_id,
        Asset.status.in_(ACTIVE_STATUSES),
        or_(Asset.last_clean_scan_at.is_(None), Asset.last_clean_scan_at < cutoff),
    )
    if kind is not None:
        stmt = stmt.where(Asset.kind == kind)
    rows = await session.scalars(
        stmt.order_by(Asset.last_clean_scan_at.is_not(None), Asset.last_clean_scan_at, Asset.asset_tag)
    )
    return list(rows.all())


async def dispose(
    session: AsyncSession,
    asset: Asset,
    *,
    body: DisposalCreate,
    actor: Principal,
    now: datetime,
    today: date,
) -> AssetDisposal:
    """WEEE disposal: equipment that held personal data needs its storage wiped or destroyed, certified."""
    disposed_on, data_destruction = body.disposed_on, body.data_destruction
    if disposed_on > today:
        raise DisposalRefused("disposed_on must not be in the future.")
    if asset.holds_personal_data and data_destruction not in STORAGE_DESTRUCTION:
        raise DisposalRefused(
            "This item held personal data: its storage must be forensically wiped or physically destroyed."
        )
    if data_destruction in STORAGE_DESTRUCTION and not body.certificate_reference:
        raise DisposalRefused(
            "A data destruction certificate reference is required when storage is wiped or destroyed."
        )
    if asset.status == "on_loan":
        raise AssetStatusConflict("This item is on loan; record its return before disposing of it.")
    await _conditional(
        session,
        asset,
        now=now,
        from_statuses=("in_service", "in_repair", "lost"),
        values={"status": "disposed"},
    )
    disposal = AssetDisposal(
        school_id=asset.school_id,
        asset_id=asset.id,
        **body.model_dump(),
        recorded_by=people.actor_ref(actor),
        recorded_at=now,
    )
    session.add(disposal)
    await session.flush()
    detail = {"receipt_reference": body.receipt_reference, "data_destruction": data_destruction}
    await people.record_audit(
        session, actor, "asset.disposed", asset, target_type="asset", now=now, detail=detail
    )
    return disposal


async def get_disposal(session: AsyncSession, asset: Asset) -> AssetDisposal | None:
    return await session.scalar(
        select(AssetDisposal).where(
            AssetDisposal.asset_id == asset.id, AssetDisposal.school_id == asset.school_id
        )
    )


REPORT_COLUMNS = (
    "asset_tag",
    "kind",
    "make",
    "model",
    "serial_number",
    "location",
    "status",
    "holds_personal_data",
    "is_encrypted",
    "purchased_on",
    "last_clean_scan_at",
    "on_loan_to",
    "loan_due_on",
    "disposed_on",
    "disposal_agency",
    "receipt_reference",
    "data_destruction",
    "certificate_reference",
)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def inventory_csv(session: AsyncSession, *, school_id: uuid.UUID, include_disposed: bool) -> str:
    stmt = select(Asset).where(Asset.school_id == school_id)
    if not include_disposed:
        stmt = stmt.where(Asset.status != "disposed")
    assets = list((await session.scalars(stmt.order_by(Asset.asset_tag, Asset.id))).all())
    loans = {
        loan.asset_id: loan
        for loan in await session.scalars(
            select(AssetLoan).where(AssetLoan.school_id == school_id, AssetLoan.returned_at.is_(None))
        )
    }
    disposals = {
        d.asset_id: d
        for d in await session.scalars(select(AssetDisposal).where(AssetDisposal.school_id == school_id))
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for a in assets:
        loan = loans.get(a.id)
        disposal = disposals.get(a.id)
        row = (
            a.asset_tag,
            a.kind,
            a.make,
            a.model,
            a.serial_number,
            a.location,
            a.status,
            a.holds_personal_data,
            a.is_encrypted,
            a.purchased_on,
            a.last_clean_scan_at,
            loan.borrower_id if loan else None,
            loan.due_on if loan else None,
            disposal.disposed_on if disposal else None,
            disposal.agency if disposal else None,
            disposal.receipt_reference if disposal else None,
            disposal.data_destruction if disposal else None,
            disposal.certificate_reference if disposal else None,
        )
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
