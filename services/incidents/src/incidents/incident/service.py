"""The incident log's operations. Functions take the session and only flush; the route commits.

Every change of an incident appends a history entry and an audit entry, and takes the next number
of the "incidents" feed last (so the LA export never skips a change committed out of order).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Select, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.incident import alerts as incident_alerts
from incidents.incident.access import is_restricted, visible_incidents
from incidents.incident.constants import HEAD_ONLY_CATEGORIES, RESTRICTED_CATEGORIES
from incidents.incident.models import (
    SEQ_BUCKET,
    Evidence,
    Incident,
    IncidentAction,
    IncidentHistory,
    IncidentPerson,
    IncidentSeqBucket,
)
from incidents.incident.schemas import (
    ActionCreate,
    EvidenceCreate,
    IncidentCreate,
    IncidentUpdate,
    PeopleAdd,
    PersonIn,
)
from servicekit import audit
from servicekit.auth import Principal
from servicekit.db import upsert
from servicekit.errors import Conflict, Forbidden, NotFound, Unprocessable
from servicekit.etags import IfMatch
from servicekit.feeds import next_sequence
from servicekit.models import ReplicaPerson
from servicekit.pagination import paginate
from servicekit.replica import caught_up, confirmed

FEED = "incidents"
SAFEGUARDING_YEARS = 25  # IRMS toolkit: child's date of birth + 25 years
ALLEGATION_YEARS = 10  # allegations against staff: at least 10 years from the allegation
OPERATIONAL_YEARS = 6  # technical incidents without a child: recorded date + 6 years


class PeopleNotInSchool(Unprocessable):
    slug = "unknown-people"


class IncidentNeverDeleted(Conflict):
    slug = "incident-retained"


class ImageryNotStored(Unprocessable):
    slug = "imagery-not-stored"


class LegalHoldRelease(Forbidden):
    slug = "legal-hold-release"


class FutureOccurrence(Unprocessable):
    slug = "occurred-in-future"


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def retention(
    *, category: str, pupil_birth_dates: Sequence[date | None], occurred_on: date, recorded_on: date
) -> tuple[str, date]:
    """The retention class and review date of an incident.

    A record about a child is kept to the child's date of birth + 25 years (the latest child's);
    when a date of birth is unknown the occurrence date + 25 years stands in for it, which is
    never earlier than the real rule (a child is born before the incident). Allegations against
    staff are kept at least 10 years from the record (longer when a child is involved). Technical
    incidents with no child: 6 years. Restricted categories count as safeguarding even before a
    child is named.
    """
    safeguarding: date | None = None
    if pupil_birth_dates or category in RESTRICTED_CATEGORIES:
        dates = [
            _add_years(dob if dob is not None else occurred_on, SAFEGUARDING_YEARS)
            for dob in (pupil_birth_dates or [None])
        ]
        safeguarding = max(dates)
    if category in HEAD_ONLY_CATEGORIES:
        allegation = _add_years(recorded_on, ALLEGATION_YEARS)
        return "allegation", max(allegation, safeguarding) if safeguarding else allegation
    if safeguarding is not None:
        return "safeguarding", safeguarding
    return "operational", _add_years(recorded_on, OPERATIONAL_YEARS)


def visible(principal: Principal) -> Select[Incident]:
    return select(Incident).where(visible_incidents(principal))


async def list_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    category: str | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[Incident], str | None]:
    """The incidents `principal` may see, newest first; the restricted ones among them are audited."""
    stmt = visible(principal)
    if status is not None:
        stmt = stmt.where(Incident.status == status)
    if category is not None:
        stmt = stmt.where(Incident.category == category)
    order = (Incident.recorded_at, Incident.id)
    rows, next_cursor = await paginate(
        session, stmt, order_by=order, cursor=cursor, limit=limit, descending=True
    )
    await record_restricted_reads(session, principal, rows, how="list")
    return rows, next_cursor


async def get_visible(
    session: AsyncSession, principal: Principal, incident_id: uuid.UUID, *, for_update: bool = False
) -> Incident:
    """The incident if `principal` may see it; otherwise 404, whether or not it exists."""
    stmt = visible(principal).where(Incident.id == incident_id)
    if for_update:
        stmt = stmt.with_for_update()
    incident = await session.scalar(stmt)
    if incident is None:
        raise NotFound("No incident with this id.")
    return incident


async def record_restricted_reads(
    session: AsyncSession, principal: Principal, incidents: Sequence[Incident], *, how: str
) -> None:
    """Every read of a restricted incident leaves an audit entry."""
    for incident in incidents:
        if is_restricted(incident.category):
            await audit.record(
                session,
                actor=principal,
                action="incident.restricted_read",
                target_type="incident",
                target_id=incident.id,
                school_id=incident.school_id,
                detail={"category": incident.category, "via": how},
            )


async def _people_rows(
    session: AsyncSession, school_id: uuid.UUID, people: Sequence[PersonIn], now: datetime
) -> list[IncidentPerson]:
    ids = {p.person_id for p in people}

    async def find() -> dict[uuid.UUID, ReplicaPerson]:
        rows = await session.scalars(
            select(ReplicaPerson).where(ReplicaPerson.id.in_(ids), ReplicaPerson.school_id == school_id)
        )
        return {p.id: p for p in rows}

    # Someone just added in identity is caught up from its feed before being called unknown.
    found = await confirmed(session, find, accept=lambda found: found.keys() >= ids)
    missing = sorted(str(i) for i in ids - found.keys())
    if missing:
        raise PeopleNotInSchool(
            "These people are not known at this school: " + ", ".join(missing),
            extra={"person_ids": missing},
        )
    rows, seen = [], set()
    for person in people:
        if (person.person_id, person.role) in seen:
            continue
        seen.add((person.person_id, person.role))
        replica = found[person.person_id]
        rows.append(
            IncidentPerson(
                person_id=person.person_id,
                role=person.role,
                kind=replica.kind,
                year_group=replica.year_group if replica.kind == "pupil" else None,
                added_at=now,
            )
        )
    return rows


async def _pupil_birth_dates(session: AsyncSession, incident: Incident) -> list[date | None]:
    pupil_ids = [p.person_id for p in incident.people if p.kind == "pupil"]
    if not pupil_ids:
        return []
    rows = await session.execute(
        select(ReplicaPerson.id, ReplicaPerson.date_of_birth).where(ReplicaPerson.id.in_(pupil_ids))
    )
    births = dict(rows.all())
    return [births.get(pid) for pid in pupil_ids]


async def _apply_retention(session: AsyncSession, incident: Incident) -> None:
    """Recompute retention; a review date only ever moves later."""
    kind, review_on = retention(
        category=incident.category,
        pupil_birth_dates=await _pupil_birth_dates(session, incident),
        occurred_on=incident.occurred_at.date(),
        recorded_on=incident.recorded_at.date(),
    )
    current = incident.__dict__.get("review_on")
    incident.retention_class = kind
    incident.review_on = max(review_on, current) if current else review_on


def _check_not_future(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + timedelta(minutes=5):
        raise FutureOccurrence("occurred_at is in the future.")


async def _changed(
    session: AsyncSession,
    incident: Incident,
    *,
    actor: Principal,
    action: str,
    changes: dict[str, Any],
    now: datetime,
    bump_version: bool,
) -> None:
    """Record a change: history, audit, version, and the next feed number (taken last)."""
    if bump_version:
        incident.version += 1
    incident.updated_at = now
    await audit.record(
        session,
        actor=actor,
        action=f"incident.{action}",
        target_type="incident",
        target_id=incident.id,
        school_id=incident.school_id,
        detail={"fields": sorted(changes)},
        at=now,
    )
    # Taken last: from here until commit, other writers of the feed wait (see servicekit.feeds).
    seq = await next_sequence(session, FEED)
    await _move_in_seq_buckets(session, incident, seq)
    incident.change_seq = seq
    session.add(
        IncidentHistory(
            incident_id=incident.id,
            seq=incident.change_seq,
            version=incident.version,
            at=now,
            actor=actor.actor,
            action=action,
            changes=changes,
        )
    )
    await session.flush()


async def _move_in_seq_buckets(session: AsyncSession, incident: Incident, seq: int) -> None:
    """Count the incident in the block of its new feed number, and out of its old one's
    (`IncidentSeqBucket`). The old number is read from the database under the feed's lock, so a
    change committed by another writer meanwhile is the one moved from."""
    old = await session.scalar(select(Incident.change_seq).where(Incident.id == incident.id))
    old_bucket = old // SEQ_BUCKET if old else None  # 0: a new incident, counted nowhere yet
    new_bucket = seq // SEQ_BUCKET
    if old_bucket == new_bucket:
        return
    if old_bucket is not None:
        await session.execute(
            sql_update(IncidentSeqBucket)
            .where(IncidentSeqBucket.school_id == incident.school_id, IncidentSeqBucket.bucket == old_bucket)
            .values(incidents=IncidentSeqBucket.incidents - 1)
            .execution_options(synchronize_session=False)
        )
    add = upsert(session, IncidentSeqBucket).values(
        school_id=incident.school_id, bucket=new_bucket, incidents=1
    )
    await session.execute(
        add.on_conflict_do_update(
            index_elements=[IncidentSeqBucket.school_id, IncidentSeqBucket.bucket],
            set_={"incidents": IncidentSeqBucket.incidents + 1},
        )
    )


async def create(
    session: AsyncSession, *, actor: Principal, school_id: uuid.UUID, body: IncidentCreate, now: datetime
) -> Incident:
    _check_not_future(body.occurred_at, now)
    people = await _people_rows(session, school_id, body.people, now)
    year = now.year
    number = await next_sequence(session, f"incident-ref:{school_id}:{year}")
    incident = Incident(
        id=uuid.uuid4(),
        school_id=school_id,
        reference=f"ESI-{year}-{number:04d}",
        category=body.category,
        severity=body.severity,
        status="open",
        location=body.location,
        summary=body.summary,
        occurred_at=body.occurred_at,
        recorded_at=now,
        reported_by_person_id=actor.person_id,
        reported_by=actor.actor,
        version=1,
        updated_at=now,
        change_seq=0,
        has_legal_hold=False,
        people=people,
    )
    await _apply_retention(session, incident)
    session.add(incident)
    await session.flush()
    changes = {
        "category": [None, body.category],
        "severity": [None, body.severity],
        "status": [None, "open"],
        "location": [None, body.location],
        "occurred_at": [None, body.occurred_at.isoformat()],
        "people": [None, [{"person_id": str(p.person_id), "role": p.role} for p in people]],
    }
    await _changed(
        session,
        incident,
        actor=actor,
        action="created",
        changes=changes,
        now=now,
        bump_version=False,
    )
    # The alerts commit with the incident, or not at all (servicekit.alerts, through the outbox).
    await incident_alerts.raise_for_new(session, incident, actor=actor)
    return incident


def _hold(incident: Incident, reason: str, now: datetime) -> dict[str, Any]:
    before = [incident.has_legal_hold, incident.legal_hold_reason]
    incident.has_legal_hold = True
    incident.legal_hold_reason = reason
    incident.legal_hold_at = now
    return {"legal_hold": [before[0], True], "legal_hold_reason": [before[1], reason]}


async def update(
    session: AsyncSession,
    incident: Incident,
    *,
    actor: Principal,
    body: IncidentUpdate,
    if_match: IfMatch,
    now: datetime,
) -> Incident:
    # The incident is locked (WritableIncident), so two changes from one ETag cannot both pass.
    if_match.check(incident.version, record_id=incident.id)
    changes: dict[str, Any] = {}
    fields = body.model_dump(exclude_unset=True)
    hold = fields.pop("legal_hold", None)
    reason = fields.pop("legal_hold_reason", None)
    if "occurred_at" in fields:
        _check_not_future(fields["occurred_at"], now)
    for name, value in fields.items():
        before = getattr(incident, name)
        if before != value:
            setattr(incident, name, value)
            changes[name] = [
                before.isoformat() if isinstance(before, datetime) else before,
                value.isoformat() if isinstance(value, datetime) else value,
            ]
    if "summary" in changes:
        changes["summary"] = ["(changed)", "(changed)"]  # free text stays out of the audit detail
    if hold is True and not incident.has_legal_hold:
        changes |= _hold(incident, reason or "", now)
    elif hold is False and incident.has_legal_hold:
        if not actor.has_role("head_teacher"):
            raise LegalHoldRelease("Only the head teacher can release a legal hold.")
        if await session.scalar(
            select(IncidentAction.id).where(
                IncidentAction.incident_id == incident.id, IncidentAction.kind == "police_referral"
            )
        ):
            raise IncidentNeverDeleted(
                "The incident was referred to the police; its legal hold stays.", slug="legal-hold-kept"
            )
        changes["legal_hold"] = [True, False]
        incident.has_legal_hold = False
        incident.legal_hold_at = None
        incident.legal_hold_reason = None
    elif reason is not None and hold is None:
        raise Unprocessable("legal_hold_reason goes with legal_hold.", slug="validation-error")
    if not changes:
        return incident
    if "category" in changes or "occurred_at" in changes:
        await _apply_retention(session, incident)
    await _changed(
        session,
        incident,
        actor=actor,
        action="updated",
        changes=changes,
        now=now,
        bump_version=True,
    )
    return incident


async def add_people(
    session: AsyncSession,
    incident: Incident,
    *,
    actor: Principal,
    body: PeopleAdd,
    now: datetime,
) -> Incident:
    existing = {(p.person_id, p.role) for p in incident.people}
    fresh = [p for p in body.people if (p.person_id, p.role) not in existing]
    rows = await _people_rows(session, incident.school_id, fresh, now)
    if caught_up(session):
        # The catch-up committed the request's reads, and with them the incident's row lock: take
        # it again (and the version another writer may have moved) before writing.
        await session.refresh(incident, attribute_names=["version", "updated_at"], with_for_update=True)
    for row in rows:
        row.incident_id = incident.id
        session.add(row)
        incident.people.append(row)
    if not rows:
        return incident
    await session.flush()
    await _apply_retention(session, incident)
    await _changed(
        session,
        incident,
        actor=actor,
        action="people_added",
        changes={"people": [None, [{"person_id": str(r.person_id), "role": r.role} for r in rows]]},
        now=now,
        bump_version=True,
    )
    return incident


async def add_action(
    session: AsyncSession, incident: Incident, *, actor: Principal, body: ActionCreate, now: datetime
) -> IncidentAction:
    _check_not_future(body.occurred_at, now)
    if body.person_id is not None and body.person_id not in {p.person_id for p in incident.people}:
        raise PeopleNotInSchool("The person is not named in this incident.", slug="person-not-in-incident")
    action = IncidentAction(
        incident_id=incident.id,
        recorded_at=now,
        recorded_by=actor.actor,
        **body.model_dump(),
    )
    session.add(action)
    changes: dict[str, Any] = {
        "actions": [None, {"kind": body.kind, "occurred_at": body.occurred_at.isoformat()}]
    }
    bump = False
    if body.kind == "police_referral" and not incident.has_legal_hold:
        # Police involvement means the record may be needed in proceedings: nothing may be disposed of.
        changes |= _hold(incident, f"Referred to the police ({body.police_reference}).", now)
        bump = True
    await session.flush()
    await _changed(
        session,
        incident,
        actor=actor,
        action="action_added",
        changes=changes,
        now=now,
        bump_version=bump,
    )
    action.seq = incident.change_seq
    await session.flush()
    return action


async def add_evidence(
    session: AsyncSession, incident: Incident, *, actor: Principal, body: EvidenceCreate, now: datetime
) -> Evidence:
    if incident.category == "sexting" and (body.kind != "device" or not body.device_secured):
        raise ImageryNotStored(
            "Nude or semi-nude imagery is never viewed, copied or stored (UKCIS guidance). Record "
            "instead that the device was secured (kind device, device_secured true) and when it "
            "was handed to the police.",
        )
    evidence = Evidence(
        incident_id=incident.id,
        kind=body.kind,
        description=body.description,
        stored_at=body.stored_at,
        held_by=body.held_by,
        sha256=body.sha256,
        is_device_secured=body.device_secured,
        handed_to_police_at=body.handed_to_police_at,
        police_reference=body.police_reference,
        recorded_at=now,
        recorded_by=actor.actor,
    )
    session.add(evidence)
    await session.flush()
    await _changed(
        session,
        incident,
        actor=actor,
        action="evidence_added",
        changes={"evidence": [None, {"id": str(evidence.id), "kind": body.kind}]},
        now=now,
        bump_version=False,
    )
    evidence.seq = incident.change_seq
    await session.flush()
    return evidence


async def refuse_delete(session: AsyncSession, incident: Incident, *, actor: Principal) -> NoReturn:
    """Nothing is deleted through the API: refuse with the reason, keeping a record of the attempt."""
    await audit.record(
        session,
        actor=actor,
        action="incident.delete_refused",
        target_type="incident",
        target_id=incident.id,
        school_id=incident.school_id,
        survives_refusal=True,
    )
    reason = (
        f"Incidents are never deleted through the API. This safeguarding record is kept until its "
        f"review date {incident.review_on.isoformat()} (retention class {incident.retention_class})"
    )
    if incident.has_legal_hold:
        reason += f", and it is under legal hold: {incident.legal_hold_reason}"
    raise IncidentNeverDeleted(
        reason + ".",
        extra={
            "review_on": incident.review_on.isoformat(),
            "retention_class": incident.retention_class,
            "legal_hold": incident.has_legal_hold,
        },
    )


async def list_actions(session: AsyncSession, incident: Incident) -> list[IncidentAction]:
    stmt = (
        select(IncidentAction)
        .where(IncidentAction.incident_id == incident.id)
        .order_by(IncidentAction.occurred_at, IncidentAction.seq)
    )
    return list(await session.scalars(stmt))


async def list_evidence(session: AsyncSession, incident: Incident) -> list[Evidence]:
    stmt = select(Evidence).where(Evidence.incident_id == incident.id).order_by(Evidence.seq)
    return list(await session.scalars(stmt))


async def list_history(session: AsyncSession, incident: Incident) -> list[IncidentHistory]:
    stmt = (
        select(IncidentHistory)
        .where(IncidentHistory.incident_id == incident.id)
        .order_by(IncidentHistory.seq)
    )
    return list(await session.scalars(stmt))
