"""Consent records, withdrawals, a pupil's consent, the MLE's change feed, the school's views,
and the parent's own routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from media_consent.consent import service as consent_service
from media_consent.consent.dependencies import OwnChild, PupilAccess, sees_restriction, staff_pupil
from media_consent.consent.rules import MediaType, Purpose
from media_consent.consent.schemas import (
    ChangeRead,
    ConsentRecordCreate,
    ConsentRecordRead,
    ExpiringConsent,
    GroupPhotoView,
    OwnConsentCreate,
    OwnWithdrawalCreate,
    PupilConsentRead,
    PupilSummary,
    WithdrawalCreate,
)
from servicekit.app import ClockDep
from servicekit.auth import CallerSchool, Principal, Scoped
from servicekit.db import SessionDep
from servicekit.etags import IfMatchOptional, etag_header, set_etag
from servicekit.feeds import FeedCursorParam, FeedPage
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import TEXT_PATTERN

router = APIRouter(prefix="/v1/media-consent", tags=["media consent"])


# --- staff: the office and the head enter forms; consent readers see a pupil's consent ----------


@router.post("/records", status_code=201, response_model=ConsentRecordRead)
async def create_consent_record(
    body: ConsentRecordCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:write")],
    school_id: CallerSchool,
    if_match: IfMatchOptional,
) -> Response:
    """Record a consent form: a new version of the pupil's consent."""
    if idem.replay is not None:
        return idem.replay
    record = await consent_service.record_form(
        session,
        school_id=school_id,
        pupil_id=body.pupil_id,
        grants=body.grants,
        valid_until=body.valid_until,
        given_by=body.given_by,
        form_dated_on=body.form_dated_on,
        collected_by=body.collected_by,
        actor=principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(record, status_code=201, headers=etag_header(record.version.version))


async def _pupil_view(
    session: SessionDep, clock: ClockDep, response: Response, access: PupilAccess
) -> PupilConsentRead:
    """A pupil's consent as the caller may see it, its current version as the ETag."""
    view = await consent_service.pupil_view(
        session,
        access.pupil,
        with_restriction=sees_restriction(access.principal),
        today=clock.now().date(),
    )
    if view.current is not None:
        set_etag(response, view.current.version)
    return view


@router.get("/pupils/{pupil_id}", response_model=PupilConsentRead)
async def get_pupil_consent(
    session: SessionDep,
    clock: ClockDep,
    response: Response,
    access: Annotated[PupilAccess, staff_pupil("consent:read")],
) -> PupilConsentRead:
    """A pupil's current consent and every earlier version."""
    return await _pupil_view(session, clock, response, access)


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
    record = await consent_service.withdraw_form(
        session,
        pupil=access.pupil,
        purposes=list(body.purposes) if body.purposes else None,
        given_by=body.given_by,
        actor=access.principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(record, status_code=201, headers=etag_header(record.version.version))


# --- the MLE: the change feed -------------------------------------------------------------------


@router.get("/changes", response_model=FeedPage[ChangeRead])
async def list_consent_changes(
    session: SessionDep,
    principal: Annotated[Principal, Scoped("consent:check")],
    school_id: CallerSchool,
    cursor: FeedCursorParam = None,
    limit: LimitParam = 50,
) -> FeedPage[ChangeRead]:
    """The consent changes of your school, oldest first (follow until has_more is false)."""
    rows, next_cursor, has_more = await consent_service.changes(
        session, school_id=school_id, cursor=cursor, limit=limit
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
    school_id: CallerSchool,
    year_group: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=2)] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[PupilSummary]:
    """Pupils on roll with no consent record."""
    rows, next_cursor = await consent_service.missing(
        session, school_id=school_id, year_group=year_group, cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page[PupilSummary](items=[PupilSummary.model_validate(p) for p in rows], next_cursor=next_cursor)


@router.get("/reports/expiring", response_model=Page[ExpiringConsent])
async def list_expiring_consents(
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:read")],
    school_id: CallerSchool,
    within_days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Page[ExpiringConsent]:
    """Consents that end within the next 30 days (or `within_days`)."""
    rows = await consent_service.expiring(
        session, school_id=school_id, today=clock.now().date(), within_days=within_days
    )
    items = [
        ExpiringConsent.of(p, c, valid_until=c.valid_until) for p, c in rows if c.valid_until is not None
    ]
    return Page[ExpiringConsent](items=items, next_cursor=None)


@router.get("/year-groups/{year_group}/group-photo", response_model=GroupPhotoView)
async def view_group_photo(
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:check")],
    school_id: CallerSchool,
    year_group: Annotated[str, Path(max_length=1, pattern=r"^[NR1-6]$")],
    purpose: Purpose,
    media_type: MediaType = "photo",
) -> GroupPhotoView:
    """Who of a year group may appear in a group photo for this purpose (recorded like a check)."""
    return await consent_service.group_photo(
        session,
        school_id=school_id,
        year_group=year_group,
        purpose=purpose,
        media_type=media_type,
        actor=principal,
        now=clock.now(),
    )


# --- parents: their own children only ------------------------------------------------------------


@router.get("/children", response_model=list[PupilConsentRead])
async def list_own_children_consent(
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("consent:own")],
    school_id: CallerSchool,
) -> list[PupilConsentRead]:
    """Your children's consent (a parent signed in)."""
    if principal.person_id is None:
        return []
    return await consent_service.children_views(
        session,
        carer_id=principal.person_id,
        school_id=school_id,
        with_restriction=sees_restriction(principal),
        today=clock.now().date(),
    )


@router.get("/children/{pupil_id}", response_model=PupilConsentRead)
async def get_own_child_consent(
    session: SessionDep, clock: ClockDep, response: Response, access: OwnChild
) -> PupilConsentRead:
    """One of your children's consent and its history."""
    return await _pupil_view(session, clock, response, access)


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
    record = await consent_service.record_own(
        session,
        pupil=access.pupil,
        grants=body.grants,
        valid_until=body.valid_until,
        actor=access.principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(record, status_code=201, headers=etag_header(record.version.version))


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
    record = await consent_service.withdraw_own(
        session,
        pupil=access.pupil,
        purposes=list(body.purposes) if body.purposes else None,
        actor=access.principal,
        now=clock.now(),
        if_match=if_match,
    )
    return await idem.respond(record, status_code=201, headers=etag_header(record.version.version))
