"""LA reporting: the pseudonymised export feed (streamed, JSON or CSV) and counts without personal data.

The export pages by `incident.change_seq`. Before the body starts, the route fixes the page's end
(the `limit`-th change after the cursor), so `X-Next-Cursor` and `X-Has-More` can go in the headers;
then the body streams the incidents whose latest change lies in (cursor, end], a chunk per
transaction, never holding more than one chunk in memory. An incident changed again while the page
streams moves beyond the end and comes in the next page, so nothing is skipped.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
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

from incidents.incident.access import is_restricted
from incidents.incident.models import Incident, IncidentAction, IncidentPerson
from incidents.reporting.pseudonym import Pseudonymiser
from incidents.reporting.schemas import Stats, StatsRow
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Forbidden, Unprocessable
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
SMALL = 5  # counts below this are shown as "<5" when split finer than the whole school


def scope_condition(principal: Principal) -> ColumnElement[bool]:
    """Which incidents the caller reports on: its school, or every school of its LA."""
    if principal.school_id is not None:
        return Incident.school_id == principal.school_id
    if principal.la_code is not None:
        schools = select(ReplicaSchool.id).where(ReplicaSchool.la_code == principal.la_code)
        return Incident.school_id.in_(schools.scalar_subquery())
    raise Forbidden("This needs a token bound to a school or to a local authority.", slug="scope-required")


async def export_scope(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """`scope_condition` shaped so that a chunk of the feed is read in `change_seq` order from an index.

    One school: (school_id, change_seq) is an index. Several: SQLite would pick the school index and
    sort every chunk's whole range, so the unary `+` keeps it on the change_seq index instead
    (PostgreSQL's planner makes that choice itself).
    """
    if principal.school_id is not None:
        return Incident.school_id == principal.school_id
    if principal.la_code is None:
        raise Forbidden(
            "This needs a token bound to a school or to a local authority.", slug="scope-required"
        )
    ids = list(
        await session.scalars(select(ReplicaSchool.id).where(ReplicaSchool.la_code == principal.la_code))
    )
    if not ids:
        return false()
    if len(ids) == 1:
        return Incident.school_id == ids[0]
    column: Any = Incident.school_id
    if session.get_bind().dialect.name == "sqlite":
        column = type_coerce(literal_column("+incident.school_id"), Incident.school_id.type)
    return cast(ColumnElement[bool], column.in_(ids))


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


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
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int
) -> ExportPlan:
    start = cursor_position(cursor)
    scope = await export_scope(session, principal)
    after = select(Incident.change_seq).where(scope, Incident.change_seq > start)
    end = await session.scalar(after.order_by(Incident.change_seq).offset(limit - 1).limit(1))
    if end is None:
        end = await session.scalar(
            select(func.max(Incident.change_seq)).where(scope, Incident.change_seq > start)
        )
    end = int(end) if end is not None else start
    remaining = int(
        await session.scalar(
            select(func.count()).select_from(Incident).where(scope, Incident.change_seq > end)
        )
        or 0
    )
    return ExportPlan(start=start, end=end, has_more=remaining > 0, remaining=remaining, scope=scope)


async def school_la_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ReplicaSchool.id, ReplicaSchool.la_code))
    # A school with no LA code gets pseudonyms of its own (nobody else can join on them).
    return {sid: code or f"school:{sid}" for sid, code in rows}


def _uuid_text(value: Any) -> str:
    """A UUID as text from the driver's raw value (SQLite: 32 hex digits; PostgreSQL: a UUID)."""
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value)


def _time_text(value: Any) -> str:
    """An RFC 3339 UTC time from the driver's raw value (SQLite: 'YYYY-MM-DD HH:MM:SS[.ffffff]')."""
    if isinstance(value, datetime):
        return _rfc3339(value.astimezone(UTC))
    text = str(value)
    if text.endswith(".000000"):
        text = text[:-7]
    return text[:10] + "T" + text[11:] + "Z"


def _raw(column: Any, name: str) -> Any:
    # Skips SQLAlchemy's per-value conversion (UUID and datetime objects): the export only needs
    # text, and building 100k objects per page was most of its cost.
    return type_coerce(column, String).label(name)


_COLUMNS = (
    _raw(Incident.id, "id"),
    Incident.reference,
    _raw(Incident.school_id, "school_id"),
    Incident.category,
    Incident.severity,
    Incident.status,
    Incident.location,
    _raw(Incident.occurred_at, "occurred_at"),
    _raw(Incident.recorded_at, "recorded_at"),
    _raw(Incident.updated_at, "updated_at"),
    Incident.change_seq,
)


class Exporter:
    """Streams one planned page of the export, a chunk of incidents per transaction."""

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

        if sqlite:
            when = func.strftime("%Y-%m-%dT%H:%M:%SZ", IncidentAction.occurred_at)
        else:
            when = func.to_char(
                func.timezone("UTC", IncidentAction.occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
            )
        people = (
            select(
                packed(
                    cast_(IncidentPerson.person_id, String)
                    + ":"
                    + IncidentPerson.role
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
                    when
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
            select(*_COLUMNS, people.label("people"), actions.label("actions"))
            .where(self.plan.scope, Incident.change_seq > position, Incident.change_seq <= self.plan.end)
            .order_by(Incident.change_seq)
            .limit(self.chunk)
        )

    async def items(self) -> AsyncIterator[list[dict[str, Any]]]:
        position = self.plan.start
        while position < self.plan.end:
            async with self.sessionmaker() as session:
                stmt = self._statement(session.get_bind().dialect.name, position)
                rows = (await session.execute(stmt)).all()
                if not rows:
                    break
                restricted = [_uuid_text(r.id) for r in rows if is_restricted(r.category)]
                if restricted:
                    await audit.record(
                        session,
                        actor=self.principal,
                        action="incident.restricted_read",
                        target_type="incident_export",
                        detail={"via": "export", "incident_ids": restricted},
                    )
                await session.commit()
            position = int(rows[-1].change_seq)
            yield [self._item(r) for r in rows]

    def _item(self, row: Any) -> dict[str, Any]:
        school_id = _uuid_text(row.school_id)
        la_code = self.la_codes.get(school_id, f"school:{school_id}")
        people = []
        if row.people:
            for pid, role, year_group in sorted(
                (p.split(":") for p in row.people.split(";")), key=lambda p: (p[1], p[0])
            ):
                people.append(
                    {
                        "pseudonym": self.pseudonymise(la_code, _uuid_text(pid)),
                        "role": role,
                        "year_group": year_group or None,
                    }
                )
        actions = []
        if row.actions:
            for when, _seq, kind, sanction, decision, referred_to in sorted(
                (a.split("|") for a in row.actions.split(";")), key=lambda a: (a[0], int(a[1]))
            ):
                entry: dict[str, Any] = {"kind": kind, "occurred_at": when}
                if sanction:
                    entry["sanction"] = sanction
                if decision:
                    entry["decision"] = decision
                if referred_to:
                    entry["referred_to"] = referred_to
                actions.append(entry)
        return {
            "id": _uuid_text(row.id),
            "reference": row.reference,
            "school_id": school_id,
            "category": row.category,
            "severity": row.severity,
            "status": row.status,
            "location": row.location,
            "occurred_at": _time_text(row.occurred_at),
            "recorded_at": _time_text(row.recorded_at),
            "updated_at": _time_text(row.updated_at),
            "people": people,
            "actions": actions,
        }

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
        async for items in self.items():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(csv_row(item) for item in items)
            yield buffer.getvalue().encode()


def csv_row(item: dict[str, Any]) -> list[str]:
    """One incident as a CSV row; people and actions are packed into one cell each (see the LA guide).

    people: `pseudonym:role:year_group` joined by `;`; actions: `kind[/detail]@time` joined by `;`.
    Every value comes from a closed vocabulary, a pseudonym or a time, so no cell can start a formula.
    """
    people = ";".join(f"{p['pseudonym']}:{p['role']}:{p['year_group'] or ''}" for p in item["people"])
    actions = ";".join(
        a["kind"]
        + "".join(f"/{a[k]}" for k in ("sanction", "decision", "referred_to") if k in a)
        + "@"
        + a["occurred_at"]
        for a in item["actions"]
    )
    return [
        item["id"],
        item["reference"],
        item["school_id"],
        item["category"],
        item["severity"],
        item["status"],
        item["location"],
        item["occurred_at"],
        item["recorded_at"],
        item["updated_at"],
        people,
        actions,
    ]


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


async def stats(
    session: AsyncSession,
    principal: Principal,
    *,
    start: date | None,
    end: date | None,
    group_by: list[str],
) -> Stats:
    if start and end and end < start:
        raise Unprocessable("`to` is before `from`.", slug="validation-error")
    conditions = [scope_condition(principal)]
    if start is not None:
        conditions.append(Incident.occurred_at >= datetime.combine(start, time(), tzinfo=UTC))
    if end is not None:
        conditions.append(
            Incident.occurred_at < datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
        )
    total = int(await session.scalar(select(func.count()).select_from(Incident).where(*conditions)) or 0)
    dims: list[Any] = []
    needs_people = "year_group" in group_by
    for name in group_by:
        if name == "category":
            dims.append(Incident.category.label("category"))
        elif name == "school":
            dims.append(Incident.school_id.label("school_id"))
        elif name == "month":
            dims.append(_month(session).label("month"))
        elif name == "year_group":
            dims.append(IncidentPerson.year_group.label("year_group"))
    stmt: Select[Any] = select(*dims, func.count(distinct(Incident.id)).label("n")).where(*conditions)
    if needs_people:
        stmt = stmt.outerjoin(
            IncidentPerson,
            (IncidentPerson.incident_id == Incident.id) & (IncidentPerson.kind == "pupil"),
        )
    if dims:
        stmt = stmt.group_by(*dims).order_by(*dims)
    rows = (await session.execute(stmt)).mappings().all() if dims else []
    finer = any(g != "school" for g in group_by)
    names: dict[uuid.UUID, str] = {}
    if "school" in group_by:
        names = dict((await session.execute(select(ReplicaSchool.id, ReplicaSchool.name))).all())
    items: list[StatsRow] = []
    suppressed = False
    for row in rows:
        n = int(row["n"])
        count: int | str = n
        if finer and n < SMALL:
            count, suppressed = f"<{SMALL}", True
        values: dict[str, Any] = {k: row[k] for k in row if k != "n"}
        if "year_group" in values and values["year_group"] is None:
            values["year_group"] = "none"
        if "school_id" in values:
            values["school_name"] = names.get(values["school_id"])
        items.append(StatsRow(count=count, **values))
    return Stats(from_=start, to=end, group_by=group_by, total=total, suppressed=suppressed, items=items)


def _month(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", Incident.occurred_at)
    return func.to_char(func.timezone("UTC", Incident.occurred_at), "YYYY-MM")
