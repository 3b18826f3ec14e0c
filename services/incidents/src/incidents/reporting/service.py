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
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, func, select
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


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ExportPlan:
    """One page of the feed: the changes in (start, end], and what comes after."""

    start: int
    end: int
    has_more: bool
    remaining: int

    @property
    def next_cursor(self) -> str:
        return feed_cursor(self.end)


async def plan_page(
    session: AsyncSession, principal: Principal, *, cursor: str | None, limit: int
) -> ExportPlan:
    start = cursor_position(cursor)
    scope = scope_condition(principal)
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
    return ExportPlan(start=start, end=end, has_more=remaining > 0, remaining=remaining)


async def school_la_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ReplicaSchool.id, ReplicaSchool.la_code))
    # A school with no LA code gets pseudonyms of its own (nobody else can join on them).
    return {sid: code or f"school:{sid}" for sid, code in rows}


_COLUMNS = (
    Incident.id,
    Incident.reference,
    Incident.school_id,
    Incident.category,
    Incident.severity,
    Incident.status,
    Incident.location,
    Incident.occurred_at,
    Incident.recorded_at,
    Incident.updated_at,
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
        self.la_codes = la_codes
        self.chunk = chunk

    async def items(self) -> AsyncIterator[list[dict[str, Any]]]:
        position = self.plan.start
        scope = scope_condition(self.principal)
        while position < self.plan.end:
            async with self.sessionmaker() as session:
                stmt = (
                    select(*_COLUMNS)
                    .where(scope, Incident.change_seq > position, Incident.change_seq <= self.plan.end)
                    .order_by(Incident.change_seq)
                    .limit(self.chunk)
                )
                rows = (await session.execute(stmt)).all()
                if not rows:
                    break
                ids = [r.id for r in rows]
                people = await self._people(session, ids)
                actions = await self._actions(session, ids)
                restricted = [str(r.id) for r in rows if is_restricted(r.category)]
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
            yield [self._item(r, people.get(r.id, []), actions.get(r.id, [])) for r in rows]

    async def _people(
        self, session: AsyncSession, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None]]]:
        found: dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None]]] = {}
        stmt = (
            select(
                IncidentPerson.incident_id,
                IncidentPerson.person_id,
                IncidentPerson.role,
                IncidentPerson.year_group,
            )
            .where(IncidentPerson.incident_id.in_(ids))
            .order_by(IncidentPerson.added_at, IncidentPerson.role, IncidentPerson.person_id)
        )
        for incident_id, person_id, role, year_group in await session.execute(stmt):
            found.setdefault(incident_id, []).append((person_id, role, year_group))
        return found

    async def _actions(
        self, session: AsyncSession, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[dict[str, Any]]]:
        found: dict[uuid.UUID, list[dict[str, Any]]] = {}
        stmt = (
            select(
                IncidentAction.incident_id,
                IncidentAction.kind,
                IncidentAction.occurred_at,
                IncidentAction.sanction,
                IncidentAction.decision,
                IncidentAction.referred_to,
            )
            .where(IncidentAction.incident_id.in_(ids))
            .order_by(IncidentAction.occurred_at, IncidentAction.seq)
        )
        for incident_id, kind, occurred_at, sanction, decision, referred_to in await session.execute(stmt):
            entry: dict[str, Any] = {"kind": kind, "occurred_at": _rfc3339(occurred_at)}
            if sanction:
                entry["sanction"] = sanction
            if decision:
                entry["decision"] = decision
            if referred_to:
                entry["referred_to"] = referred_to
            found.setdefault(incident_id, []).append(entry)
        return found

    def _item(
        self, row: Any, people: list[tuple[uuid.UUID, str, str | None]], actions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        la_code = self.la_codes.get(row.school_id, f"school:{row.school_id}")
        return {
            "id": str(row.id),
            "reference": row.reference,
            "school_id": str(row.school_id),
            "category": row.category,
            "severity": row.severity,
            "status": row.status,
            "location": row.location,
            "occurred_at": _rfc3339(row.occurred_at),
            "recorded_at": _rfc3339(row.recorded_at),
            "updated_at": _rfc3339(row.updated_at),
            "people": [
                {"pseudonym": self.pseudonymise(la_code, pid), "role": role, "year_group": yg}
                for pid, role, yg in people
            ],
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
