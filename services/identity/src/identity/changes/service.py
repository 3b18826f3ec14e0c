"""Recording changes to schools, people, carer links and accounts, and reading them as a feed.

Every write to one of those entities calls `record_change` in its own transaction. The entity's
row in `people_change` then carries the latest change number (from `servicekit.feeds`, whose
counter lock makes numbers visible in order), so a reader paging by number never skips a change
committed out of order, and sees each entity once, in its latest state.

Each kind has a serializer that turns entity ids into the feed's `data` (keys named as the columns
of servicekit's Replica* tables). Other domains register theirs (part of identity that owns
accounts registers `account`):

    register_serializer("account", account_feed_data)
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, get_args

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.changes.models import PeopleChange
from identity.changes.schemas import ChangeItem, ChangeKind
from identity.people.models import CarerLink, Person
from identity.schools.models import School
from servicekit.feeds import next_sequence, read_feed
from servicekit.models import FeedCounter
from servicekit.replica import FEED_HEAD_KEY, FeedHead, FeedHeadUnavailable

FEED_NAME = "identity-people"
KINDS: tuple[str, ...] = get_args(ChangeKind)

# ids of one kind -> {id: data}; ids that no longer exist are simply left out.
Serializer = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, dict[str, Any]]]]
RolesProvider = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, list[str]]]]

SERIALIZERS: dict[str, Serializer] = {}


def register_serializer(kind: str, serializer: Serializer) -> None:
    """Say how the feed describes entities of `kind` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    SERIALIZERS[kind] = serializer


async def record_change(
    session: AsyncSession,
    *,
    kind: str,
    entity_id: uuid.UUID,
    at: datetime | None = None,
    must_announce: bool = True,
) -> int:
    """Mark the entity changed in this transaction; returns its new change number.

    Call it after the change itself (the feed counter stays locked until commit). `must_announce`
    False: the change stands even if the feed head cannot be told (`announce`).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    seq = await next_sequence(session, FEED_NAME)
    when = at or datetime.now(UTC)
    # The counter lock taken above serialises writers, so this read-then-write cannot race.
    result = await session.execute(
        update(PeopleChange)
        .where(PeopleChange.kind == kind, PeopleChange.entity_id == entity_id)
        .values(change_seq=seq, changed_at=when)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 0:
        session.add(PeopleChange(kind=kind, entity_id=entity_id, change_seq=seq, changed_at=when))
        await session.flush()
    await announce(session, seq, required=must_announce)
    return seq


async def announce(session: AsyncSession, seq: int, *, required: bool = True) -> None:
    """Tell the followers (servicekit.replica.FeedHead) that numbers up to `seq` are handed out,
    before this transaction commits: where the platform has a feed head and it cannot be told, the
    write fails and is rolled back (503), so no acknowledged change is one a follower skips.

    Not `required` for accounts' changes (a revocation must never fail for want of Redis): the
    followers learn those from their background pull, which the head does not stand in for
    (read-your-writes is for people, carer links and leavers; CONTRACT.md).
    """
    head: FeedHead | None = session.info.get(FEED_HEAD_KEY)
    if head is None:
        return
    try:
        await head.announce(seq)
    except FeedHeadUnavailable:
        if required:
            raise


async def record_changes(
    session: AsyncSession, entities: Sequence[tuple[str, uuid.UUID]], *, at: datetime | None = None
) -> None:
    """`record_change` for many entities at once (a roll import), in the order given.

    Takes one block of consecutive numbers, so a large import costs a few statements, not
    several per entity.
    """
    if not entities:
        return
    for kind, _ in entities:
        if kind not in KINDS:
            raise ValueError(f"unknown feed kind {kind!r}")
    when = at or datetime.now(UTC)
    first = await next_sequence(session, FEED_NAME)
    if len(entities) > 1:
        # The counter is locked by next_sequence until commit: the block is ours alone.
        await session.execute(
            update(FeedCounter)
            .where(FeedCounter.name == FEED_NAME)
            .values(value=FeedCounter.value + (len(entities) - 1))
        )
    seqs = {entity: first + n for n, entity in enumerate(entities)}
    existing: dict[tuple[str, uuid.UUID], PeopleChange] = {}
    ids = [entity_id for _, entity_id in entities]
    for start in range(0, len(ids), 500):
        rows = await session.scalars(
            select(PeopleChange).where(PeopleChange.entity_id.in_(ids[start : start + 500]))
        )
        existing.update({(row.kind, row.entity_id): row for row in rows})
    # Existing rows first take numbers nobody holds, so unique change numbers never clash mid-flush.
    for entity, row in existing.items():
        row.change_seq = seqs[entity]
        row.changed_at = when
    await session.flush()
    session.add_all(
        PeopleChange(kind=kind, entity_id=entity_id, change_seq=seq, changed_at=when)
        for (kind, entity_id), seq in seqs.items()
        if (kind, entity_id) not in existing
    )
    await session.flush()
    await announce(session, first + len(entities) - 1)


async def read_changes(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list[ChangeItem], str, bool]:
    """The entities changed after `cursor`, oldest change first, each in its latest state."""
    rows, next_cursor, has_more = await read_feed(
        session,
        select(PeopleChange),
        seq_column=PeopleChange.change_seq,
        cursor=cursor,
        limit=limit,
    )
    ids_by_kind: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        ids_by_kind.setdefault(row.kind, []).append(row.entity_id)
    data: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    for kind, ids in ids_by_kind.items():
        serializer = SERIALIZERS.get(kind)
        if serializer is None:
            continue
        for entity_id, values in (await serializer(session, ids)).items():
            data[(kind, entity_id)] = values
    items = [
        ChangeItem(seq=row.change_seq, kind=row.kind, id=row.entity_id, data=data[(row.kind, row.entity_id)])
        for row in rows
        if (row.kind, row.entity_id) in data
    ]
    return items, next_cursor, has_more


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def _schools(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await session.scalars(select(School).where(School.id.in_(ids)))
    return {s.id: {"name": s.name, "urn": s.urn, "la_code": s.la_code} for s in rows}


async def _roles_by_person(
    session: AsyncSession, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    # Accounts live in another identity domain, loaded lazily to keep imports one-way.
    try:
        accounts = importlib.import_module("identity.accounts.service")
    except ModuleNotFoundError:
        return {}
    provider: RolesProvider | None = getattr(accounts, "roles_by_person", None)
    if provider is None:
        return {}
    return await provider(session, person_ids)


async def _people(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    people = list(await session.scalars(select(Person).where(Person.id.in_(ids))))
    roles = await _roles_by_person(session, [p.id for p in people])
    return {
        p.id: {
            "school_id": str(p.school_id),
            "kind": p.kind,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "year_group": p.year_group,
            "date_of_birth": _plain(p.date_of_birth),
            "external_ref": p.external_ref,
            "is_on_roll": p.is_on_roll,
            "roles": sorted(roles.get(p.id, [])),
        }
        for p in people
    }


async def _carer_links(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = await session.scalars(select(CarerLink).where(CarerLink.id.in_(ids)))
    return {
        link.id: {
            "pupil_id": str(link.pupil_id),
            "carer_id": str(link.carer_id),
            "relationship": link.relationship,
            "has_parental_responsibility": link.has_parental_responsibility,
            "is_active": link.is_active,
        }
        for link in rows
    }


register_serializer("school", _schools)
register_serializer("person", _people)
register_serializer("carer_link", _carer_links)
