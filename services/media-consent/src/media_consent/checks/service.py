"""The consent check: one read of the local database, the rules, a record of the check, a receipt;
and the school's list of past checks.

This is the hot path of the service (the MLE asks before every publication). It reads only this
service's tables (the people replica and the consent state) with one Core query, so it keeps
answering while identity is down. `check` reads and records through the app's `CheckStore`
(checks/store.py); the session functions here are the SQLAlchemy way, used by the session store
and the group photo view.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from media_consent.checks.models import ConsentCheck
from media_consent.consent.models import ConsentCurrent
from media_consent.consent.rules import PupilFacts, evaluate, fold
from media_consent.restriction.models import NeverPublish
from servicekit.context import current_request_id
from servicekit.jwt import SigningKey
from servicekit.models import ReplicaPerson
from servicekit.pagination import paginate
from servicekit.replica import PeopleFollower

if TYPE_CHECKING:
    from media_consent.checks.store import CheckStore

RECEIPT_TYPE = "consent-receipt+jwt"


class CheckRecord(NamedTuple):
    """A check as it is kept: the columns of `consent_check`, in order (checks/pg.py inserts it as
    it is). `pupil_ids` are the results' own, as strings."""

    id: uuid.UUID
    school_id: uuid.UUID
    actor: str
    source: str
    purpose: str
    media_type: str
    framing: str
    pupil_ids: list[str]
    decision: str
    results: list[dict[str, Any]]
    checked_at: datetime
    request_id: str | None


_FACTS = (
    select(
        ReplicaPerson.id,
        ReplicaPerson.school_id,
        ReplicaPerson.kind,
        ReplicaPerson.is_on_roll,
        ReplicaPerson.given_name,
        ReplicaPerson.family_name,
        ConsentCurrent.version,
        ConsentCurrent.grants,
        ConsentCurrent.withdrawn_purposes,
        ConsentCurrent.valid_until,
        NeverPublish.is_active,
    )
    .outerjoin(ConsentCurrent, ConsentCurrent.pupil_id == ReplicaPerson.id)
    .outerjoin(NeverPublish, NeverPublish.pupil_id == ReplicaPerson.id)
)


async def load_facts(session: AsyncSession, pupil_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PupilFacts]:
    """Everything the rules need about these people, in one query."""
    rows = await session.execute(_FACTS.where(ReplicaPerson.id.in_(pupil_ids)))
    return {
        row[0]: PupilFacts(
            school_id=row[1],
            kind=row[2],
            is_on_roll=bool(row[3]),
            given_name=row[4],
            family_name=row[5],
            version=row[6],
            grants=row[7],
            withdrawn_purposes=row[8],
            valid_until=row[9],
            is_restricted=bool(row[10]),
        )
        for row in rows
    }


def decide(
    facts: dict[uuid.UUID, PupilFacts],
    pupil_ids: Sequence[uuid.UUID],
    *,
    school_id: uuid.UUID,
    purpose: str,
    media_type: str,
    framing: str,
    now: datetime,
    filename: str | None = None,
    caption: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    today = now.date()
    results = []
    # Folded once for every pupil of the check, not once per pupil.
    folded_filename = fold(filename) if filename else None
    folded_caption = fold(caption) if caption else None
    for pupil_id in pupil_ids:
        reason = evaluate(
            facts.get(pupil_id),
            school_id=school_id,
            purpose=purpose,
            media_type=media_type,
            framing=framing,
            today=today,
            filename=folded_filename,
            caption=folded_caption,
        )
        results.append(
            {"pupil_id": str(pupil_id), "decision": "deny" if reason else "allow", "reason": reason}
        )
    decision = "allow" if results and all(r["decision"] == "allow" for r in results) else "deny"
    return decision, results


def record_of(
    decision: str,
    results: list[dict[str, Any]],
    *,
    school_id: uuid.UUID,
    actor: str,
    source: str,
    purpose: str,
    media_type: str,
    framing: str,
    now: datetime,
) -> CheckRecord:
    """The record of a check just decided, under a new id."""
    return CheckRecord(
        uuid.uuid4(),
        school_id,
        actor,
        source,
        purpose,
        media_type,
        framing,
        [r["pupil_id"] for r in results],
        decision,
        results,
        now,
        current_request_id(),
    )


async def store(session: AsyncSession, record: CheckRecord) -> None:
    """Keep the check, so the school can show what was checked (a Core insert: this is the hot path)."""
    await session.execute(insert(ConsentCheck).values(**record._asdict()))


async def check(
    store: CheckStore,
    follower: PeopleFollower,
    *,
    catch_up_seconds: float,
    school_id: uuid.UUID,
    actor: str,
    purpose: str,
    media_type: str,
    framing: str,
    pupil_ids: Sequence[uuid.UUID],
    now: datetime,
    filename: str | None,
    caption: str | None,
) -> CheckRecord:
    """Read, decide, record: the check's record (its decision and each pupil's result), committed.

    Read-your-writes for the one answer a stale replica gets wrong, an allow for a pupil who has
    just left: before allowing, wait (at most `catch_up_seconds`) for the replica to catch up with
    identity, and decide again if that brought anything. A deny never waits; unknown pupils cost
    no pull.
    """
    seen = follower.changes
    for second_read in (False, True):
        facts = await store.load_facts(pupil_ids, purpose=purpose, media_type=media_type)
        decision, results = decide(
            facts,
            pupil_ids,
            school_id=school_id,
            purpose=purpose,
            media_type=media_type,
            framing=framing,
            now=now,
            filename=filename,
            caption=caption,
        )
        # Read again only once, and only if waiting before an allow brought news.
        if (
            second_read
            or catch_up_seconds <= 0
            or not any(r["decision"] == "allow" for r in results)
            or not await follower.catch_up(within=catch_up_seconds)
            or follower.changes == seen
        ):
            break
    record = record_of(
        decision,
        results,
        school_id=school_id,
        actor=actor,
        source="check",
        purpose=purpose,
        media_type=media_type,
        framing=framing,
        now=now,
    )
    await store.store(record)
    return record


async def list_checks(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    checked_from: datetime | None,
    checked_to: datetime | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[ConsentCheck], str | None]:
    """The school's checks, newest first, from `checked_from` and before `checked_to`."""
    stmt = select(ConsentCheck).where(ConsentCheck.school_id == school_id)
    if checked_from is not None:
        stmt = stmt.where(ConsentCheck.checked_at >= checked_from)
    if checked_to is not None:
        stmt = stmt.where(ConsentCheck.checked_at < checked_to)
    return await paginate(
        session,
        stmt,
        order_by=(ConsentCheck.checked_at, ConsentCheck.id),
        cursor=cursor,
        limit=limit,
        descending=True,
    )


def receipt(key: SigningKey, *, issuer: str, record: CheckRecord) -> str:
    """A signed statement of the decision. Its `typ` keeps it from ever passing as an access token."""
    claims = {
        "iss": issuer,
        "sub": str(record.id),
        "jti": str(record.id),
        "iat": int(record.checked_at.timestamp()),
        "checked_at": record.checked_at.isoformat(),
        "school_id": str(record.school_id),
        "requested_by": record.actor,
        "purpose": record.purpose,
        "media_type": record.media_type,
        "framing": record.framing,
        "pupil_ids": record.pupil_ids,
        "decision": record.decision,
        "results": record.results,
    }
    return key.sign(claims, typ=RECEIPT_TYPE)
