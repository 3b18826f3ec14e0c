"""Consent records and withdrawals: each appends a version, moves the current state and the feed."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.consent.models import ConsentChange, ConsentCurrent, ConsentVersion
from media_consent.consent.rules import MEDIA_TYPES, PURPOSES, all_none, pair_key
from media_consent.consent.schemas import (
    ConsentVersionRead,
    CurrentConsent,
    Grant,
    GrantRead,
)
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict
from servicekit.etags import IfMatch
from servicekit.feeds import next_sequence
from servicekit.models import ReplicaPerson

FEED = "media-consent-changes"


class NoConsentToWithdraw(Conflict):
    slug = "no-consent-to-withdraw"


def grants_list(grants: dict[str, str]) -> list[GrantRead]:
    return [
        GrantRead(purpose=p, media_type=m, level=grants.get(pair_key(p, m), "none"))
        for p in PURPOSES
        for m in MEDIA_TYPES
    ]


def version_read(row: ConsentVersion) -> ConsentVersionRead:
    return ConsentVersionRead(
        version=row.version,
        kind=row.kind,
        grants=grants_list(row.grants),
        withdrawn_purposes=list(row.withdrawn_purposes),
        valid_until=row.valid_until,
        given_by=row.given_by,
        source=row.source,
        form_dated_on=row.form_dated_on,
        collected_by=row.collected_by,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


def current_read(row: ConsentCurrent, today: date) -> CurrentConsent:
    return CurrentConsent(
        version=row.version,
        grants=grants_list(row.grants),
        withdrawn_purposes=list(row.withdrawn_purposes),
        valid_until=row.valid_until,
        is_expired=row.valid_until is not None and today > row.valid_until,
        updated_at=row.updated_at,
    )


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
    seq = await next_sequence(session, FEED)
    session.add(
        ConsentChange(
            school_id=school_id, pupil_id=pupil_id, version=version, kind=kind, changed_at=now, change_seq=seq
        )
    )
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


async def history(session: AsyncSession, pupil_id: uuid.UUID) -> list[ConsentVersion]:
    stmt = select(ConsentVersion).where(ConsentVersion.pupil_id == pupil_id).order_by(ConsentVersion.version)
    return list((await session.scalars(stmt)).all())


def missing_stmt(school_id: uuid.UUID, year_group: str | None) -> Select[Any]:
    """Pupils on roll with no consent record at all."""
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
    return stmt


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
