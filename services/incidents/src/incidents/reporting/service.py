"""LA reporting: the pseudonymised export feed (streamed, JSON or CSV) and counts without personal data.

The export pages by `incident.change_seq`. Before the body starts, the route fixes the page's end
(the `limit`-th change after the cursor), so `X-Next-Cursor` and `X-Has-More` can go in the headers;
then the body streams the incidents whose latest change lies in (cursor, end], a chunk per
transaction, holding at most two chunks in memory (one being written, the next being read). An
incident changed again while the page streams moves beyond the end and comes in the next page,
so nothing is skipped.

Both take in what `incidents.incident.access.reported_incidents` gives the caller (the one
visibility rule: the head and the lead export and count only what they may read). The counts
are protected against small numbers (see `stats`): whole calendar months, cells of one school,
month and group, cells under 5 withheld, the rest rounded to 5, every number a sum of published
cells, so that no combination of queries singles out fewer than 5 incidents.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    distinct,
    false,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy import cast as cast_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from incidents.incident.access import reported_incidents
from incidents.incident.constants import AUDITED_CATEGORIES
from incidents.incident.models import SEQ_BUCKET, Incident, IncidentAction, IncidentPerson, IncidentSeqBucket
from incidents.reporting.pseudonym import Pseudonymiser
from incidents.reporting.schemas import Disclosure, Stats, StatsRow
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Unprocessable
from servicekit.feeds import cursor_position, feed_cursor
from servicekit.models import ReplicaSchool

CSV_COLUMNS = (
    "id",
    "reference",
    "school_id",
    "category",
    "severity",
    "status",
    "location",
    "occurred_at",
    "recorded_at",
    "updated_at",
    "people",
    "actions",
)
GROUPS = ("category", "month", "year_group", "school")
# Pseudonyms an export keeps (about 150 bytes each): an LA's pupils come up again and again, and
# the bound keeps memory flat for a page of any size.
CACHED_PSEUDONYMS = 50_000
SMALL = 5  # a cell (a month and a group) of fewer incidents is withheld
ROUND_TO = 5  # every other cell is rounded to the nearest multiple of this


async def export_scope(
    session: AsyncSession, principal: Principal
) -> tuple[ColumnElement[bool], list[uuid.UUID] | None]:
    """The incidents the caller's export takes in (`reported_incidents`: the one visibility rule),
    shaped so that a chunk of the feed is read in `change_seq` order from an index; and, when the
    scope is exactly the incidents of some schools (an LA's client or officer), those schools
    (what `remaining` reads from `IncidentSeqBucket`).

    One school: (school_id, change_seq) is an index. Several (an LA): SQLite would pick the school
    index and sort every chunk's whole range, so the unary `+` keeps it on the change_seq index
    instead (PostgreSQL's planner makes that choice itself).
    """
    if principal.school_id is not None or principal.la_code is None:
        return reported_incidents(principal), None
    ids = list(
        await session.scalars(select(ReplicaSchool.id).where(ReplicaSchool.la_code == principal.la_code))
    )
    whole_schools = ids if principal.person_id is None else None
    if not ids:
        return false(), whole_schools
    if len(ids) == 1:
        return reported_incidents(principal, la_schools=Incident.school_id == ids[0]), whole_schools
    column: Any = Incident.school_id
    if session.get_bind().dialect.name == "sqlite":
        column = type_coerce(literal_column("+incident.school_id"), Incident.school_id.type)
    scope = reported_incidents(principal, la_schools=cast(ColumnElement[bool], column.in_(ids)))
    return scope, whole_schools


async def remaining(
    session: AsyncSession, scope: ColumnElement[bool], schools: list[uuid.UUID] | None, end: int
) -> int:
    """How many incidents in scope have their latest change after `end`.

    For whole schools: the counts of the blocks after `end`'s (`IncidentSeqBucket`) and a count
    within `end`'s block, at most SEQ_BUCKET feed numbers, so the cost does not grow with the
    LA's history. Otherwise (a scope that leaves out some incidents of a school) a count.
    """
    if schools is None:
        stmt = select(func.count()).select_from(Incident).where(scope, Incident.change_seq > end)
        return int(await session.scalar(stmt) or 0)
    if not schools:
        return 0
    block = end // SEQ_BUCKET
    later = select(func.coalesce(func.sum(IncidentSeqBucket.incidents), 0)).where(
        IncidentSeqBucket.school_id.in_(schools), IncidentSeqBucket.bucket > block
    )
    within = (
        select(func.count())
        .select_from(Incident)
        .where(
            scope,
            Incident.change_seq > end,
            Incident.change_seq < (block + 1) * SEQ_BUCKET,
        )
    )
    return int(await session.scalar(later) or 0) + int(await session.scalar(within) or 0)


@dataclass(frozen=True)
class ExportPlan:
    """One page of the feed: the changes in (start, end] of the incidents in scope, and what is left."""

    start: int
    end: int
    has_more: bool
    remaining: int
    scope: ColumnElement[bool]

    @property
    def next_cursor(self) -> str:
        return feed_cursor(self.end)


async def plan_page(
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int, format: str
) -> ExportPlan:
    """The page of the export `principal` pulls (audited: who exported which changes, in what format)."""
    start = cursor_position(cursor)
    scope, schools = await export_scope(session, principal)
    after = select(Incident.change_seq).where(scope, Incident.change_seq > start)
    end = await session.scalar(after.order_by(Incident.change_seq).offset(limit - 1).limit(1))
    if end is None:
        end = await session.scalar(
            select(func.max(Incident.change_seq)).where(scope, Incident.change_seq > start)
        )
    end = int(end) if end is not None else start
    left = await remaining(session, scope, schools, end)
    await audit.record(
        session,
        actor=principal,
        action="incident.exported",
        target_type="incident_export",
        school_id=principal.school_id,
        detail={"from_seq": start, "to_seq": end, "format": format, "la_code": principal.la_code},
    )
    return ExportPlan(start=start, end=end, has_more=left > 0, remaining=left, scope=scope)


async def school_la_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ReplicaSchool.id, ReplicaSchool.la_code))
    # A school with no LA code gets pseudonyms of its own (nobody else can join on them).
    return {sid: code or f"school:{sid}" for sid, code in rows}


def _id_text(column: Any, sqlite: bool) -> Any:
    """A UUID column as text: PostgreSQL's canonical form; SQLite's 32 hex digits (see `_hex_uuid`)."""
    return type_coerce(column, String) if sqlite else cast_(column, String)


def _time_text(column: Any, sqlite: bool, *, fraction: bool = False) -> Any:
    """A time column as text: SQLite's stored 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC; see `_sqlite_time`);
    on PostgreSQL RFC 3339 UTC, without a fraction of zero unless `fraction` (then it sorts as time)."""
    if sqlite:
        return type_coerce(column, String)
    text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return text if fraction else func.replace(text, ".000000Z", "Z")


# The driver's text to the export's, in Python where that is cheaper than asking SQLite for it.
def _hex_uuid(value: str) -> str:
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def _sqlite_time(value: str) -> str:
    if value.endswith(".000000"):
        return value[:10] + "T" + value[11:19] + "Z"
    return value[:10] + "T" + value[11:] + "Z"


def _postgresql_time(value: str) -> str:
    return value[:-8] + "Z" if value.endswith(".000000Z") else value


def _as_is(value: str) -> str:
    return value


_SEQ = 10  # where change_seq sits in a row of `Exporter._statement`


class Exporter:
    """Streams one planned page of the export, a chunk of incidents per transaction.

    The database sends each row as text ready to write (ids, times, people and actions packed),
    since building Python objects per value was most of the export's cost; the service adds the
    pseudonyms. While one chunk is written out, the next is read.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        principal: Principal,
        plan: ExportPlan,
        *,
        pseudonymise: Pseudonymiser,
        la_codes: dict[uuid.UUID, str],
        chunk: int,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.principal = principal
        self.plan = plan
        self.pseudonymise = pseudonymise
        self.la_codes = {str(k): v for k, v in la_codes.items()}
        self.chunk = chunk
        # Set by the first read, for its database: ids, incidents' times and actions' times as text.
        self._uuid: Callable[[str], str] = _as_is
        self._time: Callable[[str], str] = _as_is
        self._action_time: Callable[[str], str] = _postgresql_time
        # Per school (by the driver's id text): its id as text and its LA's pseudonyms so far, by
        # the driver's person id text. Each pseudonym is computed once per request.
        self._schools: dict[str, tuple[str, str, dict[str, str]]] = {}
        self._pseudonyms: dict[str, dict[str, str]] = {}
        self._cached = 0

    def _statement(self, dialect: str, position: int) -> Select[Any]:
        """One chunk in one statement: the incidents with their people and actions packed by the database.

        One statement means one snapshot (an incident and its people are read together) and no
        list of ids to send back; the packed values hold only closed vocabularies, ids and times.
        """
        sqlite = dialect == "sqlite"

        def packed(expr: Any) -> Any:
            return func.group_concat(expr, ";") if sqlite else func.string_agg(expr, ";")

        def text_of(column: Any) -> Any:
            return func.coalesce(cast_(column, String), "")

        people = (
            select(
                packed(
                    IncidentPerson.role
                    + ":"
                    + _id_text(IncidentPerson.person_id, sqlite)
                    + ":"
                    + text_of(IncidentPerson.year_group)
                )
            )
            .where(IncidentPerson.incident_id == Incident.id)
            .scalar_subquery()
        )
        actions = (
            select(
                packed(
                    _time_text(IncidentAction.occurred_at, sqlite, fraction=True)
                    + "|"
                    + cast_(IncidentAction.seq, String)
                    + "|"
                    + IncidentAction.kind
                    + "|"
                    + text_of(IncidentAction.sanction)
                    + "|"
                    + text_of(IncidentAction.decision)
                    + "|"
                    + text_of(IncidentAction.referred_to)
                )
            )
            .where(IncidentAction.incident_id == Incident.id)
            .scalar_subquery()
        )
        return (
            select(
                _id_text(Incident.id, sqlite).label("id"),
                Incident.reference,
                _id_text(Incident.school_id, sqlite).label("school_id"),
                Incident.category,
                Incident.severity,
                Incident.status,
                Incident.location,
                _time_text(Incident.occurred_at, sqlite).label("occurred_at"),
                _time_text(Incident.recorded_at, sqlite).label("recorded_at"),
                _time_text(Incident.updated_at, sqlite).label("updated_at"),
                Incident.change_seq,
                people.label("people"),
                actions.label("actions"),
            )
            .where(self.plan.scope, Incident.change_seq > position, Incident.change_seq <= self.plan.end)
            .order_by(Incident.change_seq)
            .limit(self.chunk)
        )

    async def _read(self, position: int) -> Sequence[Any]:
        """The chunk after `position`, in a transaction of its own (restricted reads audited in it)."""
        async with self.sessionmaker() as session:
            # Core on the session's connection: plain rows, no ORM loading step per row.
            connection = await session.connection()
            if connection.dialect.name == "sqlite":
                self._uuid, self._time, self._action_time = _hex_uuid, _sqlite_time, _sqlite_time
            rows = (await connection.execute(self._statement(connection.dialect.name, position))).all()
            restricted = [self._uuid(r[0]) for r in rows if r[3] in AUDITED_CATEGORIES]
            if restricted:
                await audit.record(
                    session,
                    actor=self.principal,
                    action="incident.restricted_read",
                    target_type="incident_export",
                    detail={"via": "export", "incident_ids": restricted},
                )
            await session.commit()
        return rows

    async def rows(self) -> AsyncIterator[Sequence[Any]]:
        """The page's rows, a chunk at a time; the next chunk is read while this one is written.

        At most two chunks are held, so memory stays flat for a page of any size.
        """
        if self.plan.start >= self.plan.end:
            return
        pending = asyncio.ensure_future(self._read(self.plan.start))
        try:
            while True:
                rows = await pending
                if not rows:
                    return
                position = int(rows[-1][_SEQ])
                if position < self.plan.end:
                    pending = asyncio.ensure_future(self._read(position))
                yield rows
                if position >= self.plan.end:
                    return
        finally:
            # The client went away (or the read failed): no read may outlive the response.
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending

    async def items(self) -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in self.rows():
            yield [self._item(r) for r in rows]

    def _school(self, raw_id: str) -> tuple[str, str, dict[str, str]]:
        """(school id, LA code, the LA's pseudonyms so far) of a school, by the driver's id text."""
        found = self._schools.get(raw_id)
        if found is None:
            school_id = self._uuid(raw_id)
            # A school with no known LA gets pseudonyms of its own (nobody else can join on them).
            la_code = self.la_codes.get(school_id) or f"school:{school_id}"
            found = (school_id, la_code, self._pseudonyms.setdefault(la_code, {}))
            self._schools[raw_id] = found
        return found

    def _pseudonym(self, la_code: str, raw_id: str, known: dict[str, str]) -> str:
        """A person's pseudonym for the LA, computed and remembered (see `_school`)."""
        if self._cached >= CACHED_PSEUDONYMS:
            # Bounded, so that memory stays flat however many people a page names.
            for pseudonyms in self._pseudonyms.values():
                pseudonyms.clear()
            self._cached = 0
        value = known[raw_id] = self.pseudonymise(la_code, self._uuid(raw_id))
        self._cached += 1
        return value

    def _people(self, packed: str | None, la_code: str, known: dict[str, str]) -> list[list[str]]:
        """`role:person_id:year_group;...` from the database as [role, pseudonym, year_group], in a
        stable order (role, then person id)."""
        if not packed:
            return []
        people = [p.split(":") for p in packed.split(";")]
        if len(people) > 1:
            people.sort()
        for person in people:
            person[1] = known.get(person[1]) or self._pseudonym(la_code, person[1], known)
        return people

    def _item(self, row: Any) -> dict[str, Any]:
        school_id, la_code, known = self._school(row.school_id)
        people = [
            {"pseudonym": pseudonym, "role": role, "year_group": year_group or None}
            for role, pseudonym, year_group in self._people(row.people, la_code, known)
        ]
        actions = []
        for when, kind, sanction, decision, referred_to in self._actions(row.actions):
            entry: dict[str, Any] = {"kind": kind, "occurred_at": when}
            if sanction:
                entry["sanction"] = sanction
            if decision:
                entry["decision"] = decision
            if referred_to:
                entry["referred_to"] = referred_to
            actions.append(entry)
        return {
            "id": self._uuid(row.id),
            "reference": row.reference,
            "school_id": school_id,
            "category": row.category,
            "severity": row.severity,
            "status": row.status,
            "location": row.location,
            "occurred_at": self._time(row.occurred_at),
            "recorded_at": self._time(row.recorded_at),
            "updated_at": self._time(row.updated_at),
            "people": people,
            "actions": actions,
        }

    def _csv_row(self, row: Any) -> tuple[str, ...]:
        """One incident as a CSV row; people and actions are packed into one cell each (see the LA guide).

        people: `pseudonym:role:year_group` joined by `;`; actions: `kind[/detail]@time` joined by `;`.
        Every value comes from a closed vocabulary, a pseudonym or a time, so no cell can start a
        formula. Built straight from the database's row: the CSV's hot path, so no dictionaries.
        """
        (
            incident_id,
            reference,
            school_id,
            category,
            severity,
            status,
            location,
            occurred_at,
            recorded_at,
            updated_at,
            _seq,
            people,
            actions,
        ) = row
        time_text = self._time
        school_id, la_code, known = self._school(school_id)
        people_cell = ""
        if people:
            people_cell = ";".join(
                f"{pseudonym}:{role}:{year_group}"
                for role, pseudonym, year_group in self._people(people, la_code, known)
            )
        actions_cell = ""
        if actions:
            actions_cell = ";".join(
                "/".join(filter(None, entry[1:])) + "@" + entry[0] for entry in self._actions(actions)
            )
        return (
            self._uuid(incident_id),
            reference,
            school_id,
            category,
            severity,
            status,
            location,
            time_text(occurred_at),
            time_text(recorded_at),
            time_text(updated_at),
            people_cell,
            actions_cell,
        )

    def _actions(self, packed: str | None) -> list[list[str]]:
        """`time|seq|kind|sanction|decision|referred_to;...` as [time, kind, sanction, decision,
        referred_to], oldest first (ties in the order they were recorded)."""
        if not packed:
            return []
        actions = [a.split("|") for a in packed.split(";")]
        if len(actions) > 1:
            # The database's time text sorts as time (it keeps the fraction).
            actions.sort(key=lambda a: (a[0], int(a[1])))
        for a in actions:
            a[0] = self._action_time(a[0])
            del a[1]
        return actions

    async def json_body(self) -> AsyncIterator[bytes]:
        yield b'{"items":['
        first = True
        async for items in self.items():
            parts = [json.dumps(item, separators=(",", ":")) for item in items]
            yield ((b"" if first else b",") + ",".join(parts).encode())
            first = False
        tail = {"next_cursor": self.plan.next_cursor, "has_more": self.plan.has_more}
        yield b"]," + json.dumps(tail, separators=(",", ":")).encode()[1:]

    async def csv_body(self) -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        yield buffer.getvalue().encode()
        async for rows in self.rows():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(map(self._csv_row, rows))
            yield buffer.getvalue().encode()


def parse_group_by(values: Sequence[str]) -> list[str]:
    groups: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in GROUPS:
                raise Unprocessable(
                    f"group_by takes {', '.join(GROUPS)}; not {name[:40]!r}.", slug="validation-error"
                )
            if name not in groups:
                groups.append(name)
    return groups


def whole_months(start: date | None, end: date | None) -> tuple[date | None, date | None]:
    """The period widened to whole calendar months: `from` to the 1st of its month, `to` to the
    last day of its month."""
    if start is not None:
        start = start.replace(day=1)
    if end is not None:
        following = date(end.year + end.month // 12, end.month % 12 + 1, 1)
        end = following - timedelta(days=1)
    return start, end


def published(n: int) -> int:
    """A cell's count as published: withheld (0) under `SMALL`, else rounded to the nearest `ROUND_TO`."""
    return 0 if n < SMALL else ROUND_TO * ((n + ROUND_TO // 2) // ROUND_TO)


async def _cells(
    session: AsyncSession, conditions: list[ColumnElement[bool]], group_by: list[str]
) -> list[tuple[dict[str, Any], int]]:
    """The period's exact counts per school, calendar month and group: the cells, never returned
    as they are. The school is in every cell, so an LA's numbers are sums of its schools' published
    cells and cannot be set against them to single out a school's few incidents."""
    dims: list[Any] = [_month(session).label("month"), Incident.school_id.label("school_id")]
    for name in group_by:
        if name == "category":
            dims.append(Incident.category.label("category"))
        elif name == "year_group":
            dims.append(IncidentPerson.year_group.label("year_group"))
    stmt: Select[Any] = select(*dims, func.count(distinct(Incident.id)).label("n")).where(*conditions)
    if "year_group" in group_by:
        stmt = stmt.outerjoin(
            IncidentPerson,
            (IncidentPerson.incident_id == Incident.id) & (IncidentPerson.kind == "pupil"),
        )
    rows = (await session.execute(stmt.group_by(*dims))).mappings().all()
    return [({k: row[k] for k in row if k != "n"}, int(row["n"])) for row in rows]


async def stats(
    session: AsyncSession,
    principal: Principal,
    *,
    start: date | None,
    end: date | None,
    group_by: list[str],
) -> Stats:
    """Counts that no combination of queries can take apart to fewer than `SMALL` incidents.

    Every count is built from cells: one school, one calendar month (the period is widened to
    whole months, so no query reaches below a month) and one value of each grouping. A cell under `SMALL` is
    withheld (as if it were none: a group that is not listed had fewer than 5, perhaps none); every
    other cell is rounded to the nearest `ROUND_TO`. What a response says is the sum of published
    cells: a group over several months or schools, and the `total` (the sum of the published
    totals of each school and month, the same whatever the grouping). So a longer period minus a
    shorter one is exactly the published months between them, an LA's count minus its schools'
    is nothing, and a total minus its groups is two sums of rounded numbers: never an exact
    count of a few incidents, nor which group a withheld one is in.
    """
    # A period that ends before it starts is empty: no counts, not a 422 (the schema allows it).
    empty = start is not None and end is not None and end < start
    if not empty:
        start, end = whole_months(start, end)
    conditions = [reported_incidents(principal)]
    if empty:
        conditions.append(false())
    if start is not None:
        conditions.append(Incident.occurred_at >= datetime.combine(start, time(), tzinfo=UTC))
    if end is not None:
        conditions.append(
            Incident.occurred_at < datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
        )
    total = sum(published(n) for _, n in await _cells(session, conditions, []))
    sums: dict[tuple[Any, ...], int] = {}
    if group_by:
        keys = ["month" if g == "month" else "school_id" if g == "school" else g for g in group_by]
        for values, n in await _cells(session, conditions, group_by):
            key = tuple(values[k] for k in keys)
            sums[key] = sums.get(key, 0) + published(n)
    names: dict[uuid.UUID, str] = {}
    if "school" in group_by:
        names = dict((await session.execute(select(ReplicaSchool.id, ReplicaSchool.name))).all())
    items: list[StatsRow] = []
    for key, count in sorted(sums.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        if count == 0:
            continue
        values = dict(zip(keys, key, strict=True))
        if "year_group" in values and values["year_group"] is None:
            values["year_group"] = "none"
        if "school_id" in values:
            values["school_name"] = names.get(values["school_id"])
        items.append(StatsRow(count=count, **values))
    return Stats(
        from_=start,
        to=end,
        group_by=group_by,
        total=total,
        suppressed=True,
        disclosure=Disclosure(withheld_below=SMALL, rounded_to=ROUND_TO),
        items=items,
    )


def _month(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", Incident.occurred_at)
    return func.to_char(func.timezone("UTC", Incident.occurred_at), "YYYY-MM")
