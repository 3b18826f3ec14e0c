"""Consent records and withdrawals (each appends a version, moves the current state and the feed), the
rules a form must meet, a pupil's consent as the school and parents see it, and the school's views.

Plain functions taking the request's session: they flush, never commit (the session commits when the
route returns).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent import people
from media_consent.checks import service as check_service
from media_consent.consent.models import ConsentChange, ConsentCurrent, ConsentVersion
from media_consent.consent.rules import MEDIA_TYPES, PURPOSES, all_none, pair_key
from media_consent.consent.schemas import (
    ConsentRecordRead,
    ConsentVersionRead,
    CurrentConsent,
    Grant,
    GroupPhotoEntry,
    GroupPhotoView,
    PupilConsentRead,
)
from media_consent.restriction.models import NeverPublish
from media_consent.webhooks import service as webhooks
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, Unprocessable
from servicekit.etags import IfMatch
from servicekit.feeds import next_sequence, read_feed
from servicekit.models import ReplicaPerson
from servicekit.pagination import paginate

FEED = "media-consent-changes"
YEAR_GROUPS = ("N", "R", "1", "2", "3", "4", "5", "6")
MAX_VALID_YEARS = 8


class PupilNotFound(NotFound):
    slug = "pupil-not-found"

    def __init__(self) -> None:
        super().__init__("No such pupil in your school.")


class PupilNotOnRoll(Conflict):
    slug = "pupil-not-on-roll"

    def __init__(self) -> None:
        super().__init__("This pupil is no longer on roll; consent cannot be recorded for them.")


class NoConsentToWithdraw(Conflict):
    slug = "no-consent-to-withdraw"


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


async def find_pupil(
    session: AsyncSession, school_id: uuid.UUID, pupil_id: uuid.UUID, *, fresh: bool = False
) -> ReplicaPerson:
    """A pupil of the school (on roll or not); anyone else is `PupilNotFound`.

    `fresh` for a decision a leaver must stop at once (recording consent)."""
    pupil = await people.pupil_of_school(session, pupil_id, school_id, fresh=fresh)
    if pupil is None:
        raise PupilNotFound()
    return pupil


async def _append(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    current: ConsentCurrent | None,
    kind: str,
    grants: dict[str, str],
    withdrawn_purposes: list[str],
    valid_until: date | None,
    given_by: uuid.UUID,
    source: str,
    form_dated_on: date | None,
    collected_by: uuid.UUID | None,
    actor: Principal,
    now: datetime,
    detail: dict[str, Any],
) -> ConsentVersion:
    number = current.version + 1 if current is not None else 1
    row = ConsentVersion(
        school_id=pupil.school_id,
        pupil_id=pupil.id,
        version=number,
        kind=kind,
        grants=grants,
        withdrawn_purposes=withdrawn_purposes,
        valid_until=valid_until,
        given_by=given_by,
        source=source,
        form_dated_on=form_dated_on,
        collected_by=collected_by,
        recorded_by=actor.actor,
        recorded_at=now,
    )
    session.add(row)
    if current is None:
        session.add(
            ConsentCurrent(
                pupil_id=pupil.id,
                school_id=pupil.school_id,
                version=number,
                grants=grants,
                withdrawn_purposes=withdrawn_purposes,
                valid_until=valid_until,
                updated_at=now,
            )
        )
    else:
        current.version = number
        current.grants = grants
        current.withdrawn_purposes = withdrawn_purposes
        current.valid_until = valid_until
        current.updated_at = now
    # Two writers of one pupil meet at the unique (pupil_id, version): the second gets a 409.
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"consent.{kind}",
        target_type="pupil",
        target_id=pupil.id,
        school_id=pupil.school_id,
        detail={"version": number, "source": source, **detail},
        at=now,
    )
    await add_change(
        session, school_id=pupil.school_id, pupil_id=pupil.id, version=number, kind=kind, now=now
    )
    return row


async def add_change(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    version: int,
    kind: str,
    now: datetime,
) -> None:
    """An entry of the MLE's change feed; the number is taken last, as the feed needs."""
    # Webhooks first: `next_sequence` locks the feed's counter until commit, so it is taken last.
    deliveries = []
    event = webhooks.EVENT_OF_KIND.get(kind)
    if event is not None:
        deliveries = await webhooks.publish(session, school_id=school_id, event_type=event, data={}, now=now)
    seq = await next_sequence(session, FEED)
    session.add(
        ConsentChange(
            school_id=school_id, pupil_id=pupil_id, version=version, kind=kind, changed_at=now, change_seq=seq
        )
    )
    # Each webhook hears "look now" with where to look: the school, the pupil and the feed's seq.
    for delivery in deliveries:
        delivery.body = {
            **delivery.body,
            "data": {"school_id": str(school_id), "pupil_id": str(pupil_id), "seq": seq, "version": version},
        }
    await session.flush()


async def record(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    grants: list[Grant],
    valid_until: date | None,
    given_by: uuid.UUID,
    source: str,
    form_dated_on: date | None,
    collected_by: uuid.UUID | None,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentVersion:
    """A new consent form: every pair it does not list is `none`; earlier withdrawals are replaced."""
    current = await session.get(ConsentCurrent, pupil.id)
    if_match.check(current.version if current is not None else None)
    full = all_none()
    for grant in grants:
        full[pair_key(grant.purpose, grant.media_type)] = grant.level
    return await _append(
        session,
        pupil=pupil,
        current=current,
        kind="recorded",
        grants=full,
        withdrawn_purposes=[],
        valid_until=valid_until,
        given_by=given_by,
        source=source,
        form_dated_on=form_dated_on,
        collected_by=collected_by,
        actor=actor,
        now=now,
        detail={"given_by": str(given_by)},
    )


async def withdraw(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    purposes: list[str] | None,
    given_by: uuid.UUID,
    source: str,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentVersion:
    """Withdraw every purpose (or those listed), for photos and videos, from this moment on."""
    current = await session.get(ConsentCurrent, pupil.id)
    if current is None:
        raise NoConsentToWithdraw("There is no consent recorded for this pupil, so none to withdraw.")
    if_match.check(current.version if current is not None else None)
    chosen = sorted(set(purposes or PURPOSES), key=PURPOSES.index)
    grants = dict(current.grants)
    for purpose in chosen:
        for media_type in MEDIA_TYPES:
            grants[pair_key(purpose, media_type)] = "none"
    withdrawn = sorted(set(current.withdrawn_purposes) | set(chosen), key=PURPOSES.index)
    return await _append(
        session,
        pupil=pupil,
        current=current,
        kind="withdrawn",
        grants=grants,
        withdrawn_purposes=withdrawn,
        valid_until=current.valid_until,
        given_by=given_by,
        source=source,
        form_dated_on=None,
        collected_by=None,
        actor=actor,
        now=now,
        detail={"given_by": str(given_by), "purposes": chosen},
    )


async def record_form(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    pupil_id: uuid.UUID,
    grants: list[Grant],
    valid_until: date | None,
    given_by: uuid.UUID,
    form_dated_on: date | None,
    collected_by: uuid.UUID | None,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentRecordRead:
    """A paper form entered by staff: for a pupil on roll, signed by a carer with parental
    responsibility, dated (not in the future), collected by a member of staff (default: the caller)."""
    today = now.date()
    # Fresh: a pupil who has just left, or a carer just unlinked, is seen at once.
    pupil = await find_pupil(session, school_id, pupil_id, fresh=True)
    if not pupil.is_on_roll:
        raise PupilNotOnRoll()
    link = await people.carer_link(session, pupil.id, given_by, needs_responsibility=True)
    if link is None or not link.has_parental_responsibility:
        raise _invalid("given_by", "given_by is not a carer with parental responsibility for this pupil.")
    if form_dated_on is None:
        raise _invalid("form_dated_on", "form_dated_on (the date on the paper form) is required.")
    if form_dated_on > today:
        raise _invalid("form_dated_on", "form_dated_on is in the future.")
    collected_by = collected_by or actor.person_id
    if collected_by is None:
        raise _invalid("collected_by", "collected_by (who collected the form) is required.")
    # The caller is vouched for by their token; anyone else named must be staff in the replica.
    if (
        collected_by != actor.person_id
        and await people.staff_of_school(session, collected_by, pupil.school_id) is None
    ):
        raise _invalid("collected_by", "collected_by is not a member of staff of this school.")
    _check_valid_until(valid_until, today)
    version = await record(
        session,
        pupil=pupil,
        grants=grants,
        valid_until=valid_until,
        given_by=given_by,
        source="paper_form",
        form_dated_on=form_dated_on,
        collected_by=collected_by,
        actor=actor,
        now=now,
        if_match=if_match,
    )
    return ConsentRecordRead.model_validate(version)


async def record_own(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    grants: list[Grant],
    valid_until: date | None,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentRecordRead:
    """A parent's own consent for their child (`pupil`, found through the parent's carer link)."""
    # Fresh, as for the office's records: a child who has just left is seen at once.
    pupil = await find_pupil(session, pupil.school_id, pupil.id, fresh=True)
    if not pupil.is_on_roll:
        raise PupilNotOnRoll()
    _check_valid_until(valid_until, now.date())
    assert actor.person_id is not None  # the OwnChild dependency needs it
    version = await record(
        session,
        pupil=pupil,
        grants=grants,
        valid_until=valid_until,
        given_by=actor.person_id,
        source="parent",
        form_dated_on=None,
        collected_by=None,
        actor=actor,
        now=now,
        if_match=if_match,
    )
    return ConsentRecordRead.model_validate(version)


async def withdraw_form(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    purposes: list[str] | None,
    given_by: uuid.UUID,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentRecordRead:
    """A withdrawal on paper, entered by staff."""
    # Any carer of the pupil may withdraw: a withdrawal only ever narrows what may be published.
    if await people.carer_link(session, pupil.id, given_by) is None:
        raise _invalid("given_by", "given_by is not a carer of this pupil.")
    version = await withdraw(
        session,
        pupil=pupil,
        purposes=purposes,
        given_by=given_by,
        source="paper_form",
        actor=actor,
        now=now,
        if_match=if_match,
    )
    return ConsentRecordRead.model_validate(version)


async def withdraw_own(
    session: AsyncSession,
    *,
    pupil: ReplicaPerson,
    purposes: list[str] | None,
    actor: Principal,
    now: datetime,
    if_match: IfMatch,
) -> ConsentRecordRead:
    """A parent's own withdrawal for their child."""
    assert actor.person_id is not None  # the OwnChild dependency needs it
    version = await withdraw(
        session,
        pupil=pupil,
        purposes=purposes,
        given_by=actor.person_id,
        source="parent",
        actor=actor,
        now=now,
        if_match=if_match,
    )
    return ConsentRecordRead.model_validate(version)


async def pupil_view(
    session: AsyncSession, pupil: ReplicaPerson, *, with_restriction: bool, today: date
) -> PupilConsentRead:
    """A pupil's current consent and every version; the never-publish flag only `with_restriction`."""
    current = await session.get(ConsentCurrent, pupil.id)
    versions = await history(session, pupil.id)
    flag: bool | None = None
    if with_restriction:
        row = await session.get(NeverPublish, pupil.id)
        flag = bool(row and row.is_active)
    return PupilConsentRead(
        pupil_id=pupil.id,
        school_id=pupil.school_id,
        given_name=pupil.given_name,
        family_name=pupil.family_name,
        year_group=pupil.year_group,
        is_on_roll=pupil.is_on_roll,
        current=CurrentConsent.of(current, today=today) if current else None,
        versions=[ConsentVersionRead.model_validate(v) for v in versions],
        never_publish=flag,
    )


async def children_views(
    session: AsyncSession,
    *,
    carer_id: uuid.UUID,
    school_id: uuid.UUID,
    with_restriction: bool,
    today: date,
) -> list[PupilConsentRead]:
    """The consent of a parent's children (those they have parental responsibility for)."""
    children = await people.children_of(session, carer_id, school_id)
    return [
        await pupil_view(session, child, with_restriction=with_restriction, today=today) for child in children
    ]


async def history(session: AsyncSession, pupil_id: uuid.UUID) -> list[ConsentVersion]:
    stmt = select(ConsentVersion).where(ConsentVersion.pupil_id == pupil_id).order_by(ConsentVersion.version)
    return list((await session.scalars(stmt)).all())


async def changes(
    session: AsyncSession, *, school_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[ConsentChange], str, bool]:
    """The school's entries of the MLE's change feed after `cursor`, oldest first."""
    stmt = select(ConsentChange).where(ConsentChange.school_id == school_id)
    return await read_feed(session, stmt, seq_column=ConsentChange.change_seq, cursor=cursor, limit=limit)


async def missing(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    year_group: str | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[ReplicaPerson], str | None]:
    """Pupils on roll with no consent record at all, by name."""
    stmt = (
        select(ReplicaPerson)
        .outerjoin(ConsentCurrent, ConsentCurrent.pupil_id == ReplicaPerson.id)
        .where(
            ReplicaPerson.school_id == school_id,
            ReplicaPerson.kind == "pupil",
            ReplicaPerson.is_on_roll.is_(True),
            ConsentCurrent.pupil_id.is_(None),
        )
    )
    if year_group is not None:
        stmt = stmt.where(ReplicaPerson.year_group == year_group)
    return await paginate(
        session,
        stmt,
        order_by=(ReplicaPerson.family_name, ReplicaPerson.given_name, ReplicaPerson.id),
        cursor=cursor,
        limit=limit,
    )


async def expiring(
    session: AsyncSession, *, school_id: uuid.UUID, today: date, within_days: int
) -> list[tuple[ReplicaPerson, ConsentCurrent]]:
    """On-roll pupils whose consent ends within the next `within_days` days (today included)."""
    stmt = (
        select(ReplicaPerson, ConsentCurrent)
        .join(ConsentCurrent, ConsentCurrent.pupil_id == ReplicaPerson.id)
        .where(
            ConsentCurrent.school_id == school_id,
            ReplicaPerson.is_on_roll.is_(True),
            ConsentCurrent.valid_until >= today,
            ConsentCurrent.valid_until <= today + timedelta(days=within_days),
        )
        .order_by(ConsentCurrent.valid_until, ReplicaPerson.family_name, ReplicaPerson.id)
    )
    return [(person, current) for person, current in (await session.execute(stmt)).all()]


async def group_photo(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    year_group: str,
    purpose: str,
    media_type: str,
    actor: Principal,
    now: datetime,
) -> GroupPhotoView:
    """Who of a year group may appear in a group photo for this purpose, kept like a check."""
    if year_group not in YEAR_GROUPS:
        raise Unprocessable(f"year_group is one of {', '.join(YEAR_GROUPS)}.", slug="validation-error")
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
        record = check_service.record_of(
            decision,
            results,
            school_id=school_id,
            actor=actor.actor,
            source="group_photo_view",
            purpose=purpose,
            media_type=media_type,
            framing="group",
            now=now,
        )
        await check_service.store(session, record)
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
