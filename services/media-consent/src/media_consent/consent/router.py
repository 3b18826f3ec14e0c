"""Consent records, withdrawals, a pupil's consent, the MLE's change feed, the school's views,
and the parent's own routes."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import select

from media_consent import people
from media_consent.checks import service as check_service
from media_consent.consent import service as consent_service
from media_consent.consent.dependencies import (
    OwnChild,
    PupilAccess,
    find_pupil,
    school_of,
    sees_restriction,
    staff_pupil,
)
from media_consent.consent.models import ConsentChange, ConsentCurrent, ConsentVersion
from media_consent.consent.rules import MediaType, Purpose
from media_consent.consent.schemas import (
    ChangeRead,
    ConsentRecordCreate,
    ConsentRecordRead,
    ExpiringConsent,
    GroupPhotoEntry,
    GroupPhotoView,
    OwnConsentCreate,
    OwnWithdrawalCreate,
    PupilConsentRead,
    PupilSummary,
    WithdrawalCreate,
)
from media_consent.restriction.models import NeverPublish
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Conflict, Unprocessable
from servicekit.etags import IfMatchOptional, etag_header, set_etag
from servicekit.feeds import FeedCursorParam, FeedPage, read_feed
from servicekit.idempotency import IdempotencyDep
from servicekit.models import ReplicaPerson
from servicekit.pagination import CursorParam, LimitParam, Page, paginate, set_next_link

router = APIRouter(prefix="/v1/media-consent", tags=["media consent"])

YEAR_GROUPS = ("N", "R", "1", "2", "3", "4", "5", "6")
MAX_VALID_YEARS = 8


class PupilNotOnRoll(Conflict):
    slug = "pupil-not-on-roll"

    def __init__(self) -> None:
        super().__init__("This pupil is no longer on roll; consent cannot be recorded for them.")


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        message, slug="validation-error", extra={"errors": [{"field": f"body.{field}", "message": message}]}
    )


def _check_valid_until(valid_until: date | None, today: date) -> None:
    if valid_until is None:
        return
    if valid_until < today:
        raise _invalid("valid_until", "valid_until is already past.")
    if valid_until > today + timedelta(days=366 * MAX_VALID_YEARS):
        raise _invalid("valid_until", f"valid_until is more than {MAX_VALID_YEARS} years away.")


async def _pupil_view(
    session: SessionDep, pupil: ReplicaPerson, principal: Principal, today: date
) -> PupilConsentRead:
    current = await session.get(ConsentCurrent, pupil.id)
    versions = await consent_service.history(session, pupil.id)
    flag: bool | None = None
    if sees_restriction(principal):
        row = await session.get(NeverPublish, pupil.id)
        flag = bool(row and row.is_active)
    return PupilConsentRead(
        pupil_id=pupil.id,
        school_id=pupil.school_id,
        given_name=pupil.given_name,
        family_name=pupil.family_name,
        year_group=pupil.year_group,
        is_on_roll=pupil.is_on_roll,
        current=consent_service.current_read(current, today) if current else None,
        versions=[consent_service.version_read(v) for v in versions],
        never_publish=flag,
    )


def _created(pupil: ReplicaPerson, version: ConsentVersion) -> ConsentRecordRead:
    return ConsentRecordRead(
        pupil_id=pupil.id, school_id=pupil.school_id, version=consent_service.version_read(version)
    )


# --- staff: the office and the head enter forms; consent readers see a pupil's consent ----------


@router.post("/records", status_code=201, response_model=ConsentRecordRead)
async def create_consent_record(
    body: ConsentRecordCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:write")],
    if_match: IfMatchOptional,
) -> Response:
    """Record a consent form: a new version of the pupil's consent."""
    if idem.replay is not None:
        return idem.replay
    now = clock.now()
    today = now.date()
    # Fresh: a pupil who has just left, or a carer just unlinked, is seen at once.
    pupil = await find_pupil(session, principal, body.pupil_id, fresh=True)
    if not pupil.is_on_roll:
        raise PupilNotOnRoll()
    link = await people.carer_link(session, pupil.id, body.given_by, needs_responsibility=True)
    if link is None or not link.has_parental_responsibility:
        raise _invalid("given_by", "given_by is not a carer with parental responsibility for this pupil.")
    if body.form_dated_on is None:
        raise _invalid("form_dated_on", "form_dated_on (the date on the paper form) is required.")
    if body.form_dated_on > today:
        raise _invalid("form_dated_on", "form_dated_on is in the future.")
    collected_by = body.collected_by or principal.person_id
    if collected_by is None:
        raise _invalid("collected_by", "collected_by (who collected the form) is required.")
    # The caller is vouched for by their token; anyone else named must be staff in the replica.
    if (
        collected_by != principal.person_id
        and await people.staff_of_school(session, collected_by, pupil.school_id) is None
    ):
        raise _invalid("collected_by", "collected_by is not a member of staff of this school.")
    _check_valid_until(body.valid_until, today)
    version = await consent_service.record(
        session,
        pupil=pupil,
        grants=body.grants,
        valid_until=body.valid_until,
        given_by=body.given_by,
        source="paper_form",
        form_dated_on=body.form_dated_on,
        collected_by=collected_by,
        actor=principal,
        now=now,
        if_match=if_match,
    )
    return await idem.respond(_created(pupil, version), status_code=201, headers=etag_header(version.version))


@router.get("/pupils/{pupil_id}", response_model=PupilConsentRead)
async def get_pupil_consent(
    session: SessionDep,
    clock: ClockDep,
    response: Response,
    access: Annotated[PupilAccess, staff_pupil("consent:read")],
) -> PupilConsentRead:
    """A pupil's current consent and every earlier version."""
    view = await _pupil_view(session, access.pupil, access.principal, clock.now().date())
    if view.current is not None:
        set_etag(response, view.current.version)
    return view


@router.post("/pupils/{pupil_id}/withdrawals", status_code=201, response_model=ConsentRecordRead)
async def withdraw_consent(
    body: WithdrawalCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    access: Annotated[PupilAccess, staff_pupil("consent:write")],
    if_match: IfMatchOptional,
) -> Response:
    """Withdraw all (or some purposes of) a pupil's consent, at once."""
    if idem.replay is not None:
        return idem.replay
    pupil = access.pupil
    # Any carer of the pupil may withdraw: a withdrawal only ever narrows what may be published.
    if await people.carer_link(session, pupil.id, body.given_by) is None:
        raise _invalid("given_by", "given_by is not a carer of this pupil.")
    version = await consent_service.withdraw(
        session,
        pupil=pupil,
        purposes=list(body.purposes) if body.purposes else None,
        given_by=body.given_by,
        source="paper_form",
        actor=access.principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(_created(pupil, version), status_code=201, headers=etag_header(version.version))


# --- the MLE: the change feed -------------------------------------------------------------------


@router.get("/changes", response_model=FeedPage[ChangeRead])
async def list_consent_changes(
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:check")],
    cursor: FeedCursorParam = None,
    limit: LimitParam = 50,
) -> FeedPage[ChangeRead]:
    """The consent changes of your school, oldest first (follow until has_more is false)."""
    stmt = select(ConsentChange).where(ConsentChange.school_id == school_of(principal))
    rows, next_cursor, has_more = await read_feed(
        session, stmt, seq_column=ConsentChange.change_seq, cursor=cursor, limit=limit
    )
    items = [
        ChangeRead(
            pupil_id=r.pupil_id, version=r.version, changed_at=r.changed_at, kind=r.kind, seq=r.change_seq
        )
        for r in rows
    ]
    return FeedPage[ChangeRead](items=items, next_cursor=next_cursor, has_more=has_more)


# --- views the school needs ----------------------------------------------------------------------


@router.get("/reports/missing", response_model=Page[PupilSummary])
async def list_pupils_without_consent(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:read")],
    year_group: Annotated[str | None, Query(max_length=2)] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[PupilSummary]:
    """Pupils on roll with no consent record."""
    stmt = consent_service.missing_stmt(school_of(principal), year_group)
    rows, next_cursor = await paginate(
        session,
        stmt,
        order_by=(ReplicaPerson.family_name, ReplicaPerson.given_name, ReplicaPerson.id),
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    items = [
        PupilSummary(
            pupil_id=p.id, given_name=p.given_name, family_name=p.family_name, year_group=p.year_group
        )
        for p in rows
    ]
    return Page[PupilSummary](items=items, next_cursor=next_cursor)


@router.get("/reports/expiring", response_model=Page[ExpiringConsent])
async def list_expiring_consents(
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:read")],
    within_days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Page[ExpiringConsent]:
    """Consents that end within the next 30 days (or `within_days`)."""
    rows = await consent_service.expiring(
        session, school_id=school_of(principal), today=clock.now().date(), within_days=within_days
    )
    items = [
        ExpiringConsent(
            pupil_id=p.id,
            given_name=p.given_name,
            family_name=p.family_name,
            year_group=p.year_group,
            version=c.version,
            valid_until=c.valid_until,
        )
        for p, c in rows
        if c.valid_until is not None
    ]
    return Page[ExpiringConsent](items=items, next_cursor=None)


@router.get("/year-groups/{year_group}/group-photo", response_model=GroupPhotoView)
async def view_group_photo(
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:check")],
    year_group: Annotated[str, Path(max_length=1, pattern=r"^[NR1-6]$")],
    purpose: Purpose,
    media_type: MediaType = "photo",
) -> GroupPhotoView:
    """Who of a year group may appear in a group photo for this purpose (recorded like a check)."""
    if year_group not in YEAR_GROUPS:
        raise Unprocessable(f"year_group is one of {', '.join(YEAR_GROUPS)}.", slug="validation-error")
    school_id = school_of(principal)
    now = clock.now()
    stmt = (
        select(ReplicaPerson.id)
        .where(
            ReplicaPerson.school_id == school_id,
            ReplicaPerson.kind == "pupil",
            ReplicaPerson.is_on_roll.is_(True),
            ReplicaPerson.year_group == year_group,
        )
        .order_by(ReplicaPerson.family_name, ReplicaPerson.given_name, ReplicaPerson.id)
    )
    pupil_ids = list((await session.scalars(stmt)).all())
    facts = await check_service.load_facts(session, pupil_ids) if pupil_ids else {}
    decision, results = check_service.decide(
        facts,
        pupil_ids,
        school_id=school_id,
        purpose=purpose,
        media_type=media_type,
        framing="group",
        now=now,
    )
    if pupil_ids:
        await check_service.store(
            session,
            check_id=uuid.uuid4(),
            school_id=school_id,
            actor=principal.actor,
            source="group_photo_view",
            purpose=purpose,
            media_type=media_type,
            framing="group",
            pupil_ids=pupil_ids,
            decision=decision,
            results=results,
            now=now,
        )
    entries = []
    for pupil_id, result in zip(pupil_ids, results, strict=True):
        f = facts[pupil_id]
        entries.append(
            GroupPhotoEntry(
                pupil_id=pupil_id,
                given_name=f.given_name,
                family_name=f.family_name,
                year_group=year_group,
                may_appear=result["decision"] == "allow",
                reason=result["reason"],
            )
        )
    return GroupPhotoView(
        year_group=year_group, purpose=purpose, media_type=media_type, checked_at=now, pupils=entries
    )


# --- parents: their own children only ------------------------------------------------------------


@router.get("/children", response_model=list[PupilConsentRead])
async def list_own_children_consent(
    session: SessionDep, clock: ClockDep, principal: Annotated[Principal, Scoped("consent:own")]
) -> list[PupilConsentRead]:
    """Your children's consent (a parent signed in)."""
    if principal.person_id is None:
        return []
    children = await people.children_of(session, principal.person_id, school_of(principal))
    today = clock.now().date()
    return [await _pupil_view(session, child, principal, today) for child in children]


@router.get("/children/{pupil_id}", response_model=PupilConsentRead)
async def get_own_child_consent(
    session: SessionDep, clock: ClockDep, response: Response, access: OwnChild
) -> PupilConsentRead:
    """One of your children's consent and its history."""
    view = await _pupil_view(session, access.pupil, access.principal, clock.now().date())
    if view.current is not None:
        set_etag(response, view.current.version)
    return view


@router.post("/children/{pupil_id}/records", status_code=201, response_model=ConsentRecordRead)
async def create_own_consent_record(
    body: OwnConsentCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    access: OwnChild,
    if_match: IfMatchOptional,
) -> Response:
    """Give or change consent for one of your children."""
    if idem.replay is not None:
        return idem.replay
    # Fresh, as for the office's records: a child who has just left is seen at once.
    pupil = await find_pupil(session, access.principal, access.pupil.id, fresh=True)
    if not pupil.is_on_roll:
        raise PupilNotOnRoll()
    now = clock.now()
    _check_valid_until(body.valid_until, now.date())
    assert access.principal.person_id is not None  # the OwnChild dependency needs it
    version = await consent_service.record(
        session,
        pupil=pupil,
        grants=body.grants,
        valid_until=body.valid_until,
        given_by=access.principal.person_id,
        source="parent",
        form_dated_on=None,
        collected_by=None,
        actor=access.principal,
        now=now,
        if_match=if_match,
    )
    return await idem.respond(
        _created(pupil, version),
        status_code=201,
        headers=etag_header(version.version),
    )


@router.post("/children/{pupil_id}/withdrawals", status_code=201, response_model=ConsentRecordRead)
async def withdraw_own_consent(
    body: OwnWithdrawalCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    access: OwnChild,
    if_match: IfMatchOptional,
) -> Response:
    """Withdraw consent for one of your children, at once."""
    if idem.replay is not None:
        return idem.replay
    assert access.principal.person_id is not None
    version = await consent_service.withdraw(
        session,
        pupil=access.pupil,
        purposes=list(body.purposes) if body.purposes else None,
        given_by=access.principal.person_id,
        source="parent",
        actor=access.principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(
        _created(access.pupil, version),
        status_code=201,
        headers=etag_header(version.version),
    )
