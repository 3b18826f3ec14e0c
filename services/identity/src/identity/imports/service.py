"""Importing a school's roll from its MIS: parse, check each row, upsert by external reference.

Each row is applied in its own savepoint: a refused row changes nothing and the others go in. A
dry run applies everything inside one more savepoint and rolls it back, so its report is exactly
what the real import would say. Importing the same roll twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.changes.service import record_changes
from identity.imports.schemas import (
    MAX_ROWS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportBody,
    ImportCounts,
    ImportLine,
    ImportReport,
    ImportRow,
    LeaverLine,
    RowStatus,
)
from identity.people import service as people_service
from identity.people.models import CarerLink, Person
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import PayloadTooLarge, ProblemError, Unprocessable


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


class BadRoll(Unprocessable):
    slug = "bad-roll"


class RowRefused(Exception):
    """A row that cannot go in, with the reason given back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


RawRow = tuple[int, dict[str, Any]]


def _too_many(count: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"A roll has at most {MAX_ROWS} rows; this one has {count}.", slug="too-many-rows")


def parse_csv(body: bytes) -> list[RawRow]:
    """Rows of a CSV roll with a header line; numbered by their line in the file."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRoll("The CSV must be UTF-8.") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise BadRoll("The CSV is empty: it needs a header line.")
        columns = [name.strip().lower() for name in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if missing or unknown or len(set(columns)) != len(columns):
            raise BadRoll(
                "The CSV header must name the columns "
                f"{', '.join(REQUIRED_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)}), each once."
                + (f" Missing: {', '.join(missing)}." if missing else "")
                + (f" Unknown: {', '.join(unknown[:10])}." if unknown else "")
            )
        rows: list[RawRow] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise _too_many(len(rows) + 1 + sum(1 for _ in reader))
            row: dict[str, Any] = dict(zip(columns, cells, strict=False))
            if len(cells) > len(columns):
                row["__extra_cells__"] = cells[len(columns) :]
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise BadRoll(f"The CSV cannot be read: {exc}.") from exc
    return rows


def parse_json(body: bytes) -> list[RawRow]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRoll("The body is not valid JSON.") from exc
    if isinstance(data, dict) and isinstance(data.get("rows"), list) and len(data["rows"]) > MAX_ROWS:
        raise _too_many(len(data["rows"]))
    try:
        parsed = ImportBody.model_validate(data)
    except ValidationError as exc:
        raise BadRoll('The body must be {"rows": [{...}, ...]} with no other fields.') from exc
    return [(number, row) for number, row in enumerate(parsed.rows, start=1)]


def parse_roll(body: bytes, content_type: str) -> list[RawRow]:
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return parse_csv(body)
    if media == "application/json":
        return parse_json(body)
    raise UnsupportedMediaType("Send the roll as text/csv or application/json.")


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def check_row(raw: dict[str, Any]) -> ImportRow:
    if "__extra_cells__" in raw:
        raise RowRefused("The row has more cells than the header has columns.")
    try:
        return ImportRow.model_validate(raw)
    except ValidationError as exc:
        raise RowRefused(_reason(exc)) from exc


def _raw_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()[:50]
    return None


@dataclass
class _State:
    """What the import knows about the school, kept in step with the rows that went in."""

    people: dict[str, Person] = field(default_factory=dict)
    links: dict[tuple[uuid.UUID, uuid.UUID], CarerLink] = field(default_factory=dict)
    # Entities written, in order, for the people change feed (recorded once, at the end).
    changed: dict[tuple[str, uuid.UUID], None] = field(default_factory=dict)


async def _load_state(session: AsyncSession, school_id: uuid.UUID, changed: dict[Any, None]) -> _State:
    people = await session.scalars(
        select(Person).where(Person.school_id == school_id, Person.external_ref.is_not(None))
    )
    links = await session.scalars(
        select(CarerLink).where(CarerLink.school_id == school_id, CarerLink.is_active.is_(True))
    )
    return _State(
        people={p.external_ref: p for p in people if p.external_ref is not None},
        links={(link.pupil_id, link.carer_id): link for link in links},
        changed=changed,
    )


@dataclass
class _Plan:
    """What one row will write; decided before anything is written, so refusals change nothing."""

    status: RowStatus
    person: Person | None = None  # the existing person, when there is one
    person_changes: dict[str, Any] = field(default_factory=dict)
    pupil: Person | None = None
    link: CarerLink | None = None  # the existing active link, when there is one
    link_changes: dict[str, Any] = field(default_factory=dict)
    new_link: bool = False


def _plan_row(state: _State, row: ImportRow) -> _Plan:
    person = state.people.get(row.external_ref)
    if person is not None and person.kind != row.kind:
        raise RowRefused(f"external_ref {row.external_ref} belongs to a {person.kind}, not a {row.kind}.")
    plan = _Plan(status="created" if person is None else "unchanged", person=person)
    if person is not None:
        wanted: dict[str, Any] = {
            "given_name": row.given_name,
            "family_name": row.family_name,
            "year_group": row.year_group,
            "is_on_roll": True,
            "left_on": None,
        }
        # A roll without a date of birth does not erase the one we hold.
        if row.date_of_birth is not None:
            wanted["date_of_birth"] = row.date_of_birth
        plan.person_changes = {k: v for k, v in wanted.items() if getattr(person, k) != v}
    if row.carer_of is not None:
        pupil = state.people.get(row.carer_of)
        if pupil is None or pupil.kind != "pupil":
            raise RowRefused(f"carer_of: no pupil with external_ref {row.carer_of} in this school.")
        plan.pupil = pupil
        plan.link = state.links.get((pupil.id, person.id)) if person is not None else None
        if plan.link is None:
            plan.new_link = True
        else:
            wanted_link = {
                "relationship": row.relationship,
                "has_parental_responsibility": row.parental_responsibility,
            }
            plan.link_changes = {k: v for k, v in wanted_link.items() if getattr(plan.link, k) != v}
    if plan.status == "unchanged" and (plan.person_changes or plan.new_link or plan.link_changes):
        plan.status = "updated"
    return plan


async def _write_row(
    session: AsyncSession, row: ImportRow, plan: _Plan, *, school_id: uuid.UUID, now: datetime
) -> tuple[Person, CarerLink | None]:
    """Write one row's plan (inside its savepoint); returns the row's person and carer link."""
    person = plan.person
    if person is None:
        person = Person(
            id=uuid.uuid4(),
            school_id=school_id,
            kind=row.kind,
            given_name=row.given_name,
            family_name=row.family_name,
            year_group=row.year_group,
            external_ref=row.external_ref,
            date_of_birth=row.date_of_birth,
            is_on_roll=True,
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(person)
    elif plan.person_changes:
        for key, value in plan.person_changes.items():
            setattr(person, key, value)
        person.version += 1
        person.updated_at = now
    # The person's row goes in before a link that refers to it (no ORM relationship orders them).
    await session.flush()
    link = plan.link
    if plan.new_link and plan.pupil is not None:
        assert row.relationship is not None
        assert row.parental_responsibility is not None
        link = CarerLink(
            id=uuid.uuid4(),
            school_id=school_id,
            pupil_id=plan.pupil.id,
            carer_id=person.id,
            relationship=row.relationship,
            has_parental_responsibility=row.parental_responsibility,
            is_active=True,
            created_at=now,
        )
        session.add(link)
    elif link is not None:
        for key, value in plan.link_changes.items():
            setattr(link, key, value)
    await session.flush()
    return person, link


async def _import_row(
    session: AsyncSession,
    state: _State,
    number: int,
    row: ImportRow,
    *,
    school_id: uuid.UUID,
    now: datetime,
) -> tuple[ImportLine | None, str | None, bool]:
    """Apply one row in its own savepoint: (its line, or None and the reason; reload needed)."""
    try:
        plan = _plan_row(state, row)
    except RowRefused as exc:
        return None, exc.reason, False
    person = plan.person
    if plan.status != "unchanged":
        try:
            async with session.begin_nested():
                person, link = await _write_row(session, row, plan, school_id=school_id, now=now)
        except SQLAlchemyError:
            return None, "The row conflicts with data already stored.", True
        if plan.status == "created" or plan.person_changes:
            state.changed[("person", person.id)] = None
        state.people[row.external_ref] = person
        if plan.pupil is not None and link is not None and (plan.new_link or plan.link_changes):
            state.links[(plan.pupil.id, person.id)] = link
            state.changed[("carer_link", link.id)] = None
    assert person is not None
    line = ImportLine(
        row=number, external_ref=row.external_ref, kind=row.kind, status=plan.status, person_id=person.id
    )
    return line, None, False


async def run_import(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    rows: list[RawRow],
    dry_run: bool,
    mark_absent_as_left: bool,
    actor: Principal,
    now: datetime,
) -> ImportReport:
    present_pupils = {
        ref for _, raw in rows if raw.get("kind") == "pupil" and (ref := _raw_text(raw, "external_ref"))
    }
    if mark_absent_as_left and not present_pupils:
        # An empty or pupil-less roll would otherwise mark every pupil of the school as a leaver.
        raise BadRoll("mark_absent_as_left needs a roll that lists the school's pupils.")

    lines: list[ImportLine] = []
    counts = ImportCounts()
    leavers: list[LeaverLine] = []
    outer = await session.begin_nested() if dry_run else None
    state = await _load_state(session, school_id, {})

    checked: list[tuple[int, dict[str, Any], ImportRow | None, str | None]] = []
    for number, raw in rows:
        try:
            checked.append((number, raw, check_row(raw), None))
        except RowRefused as exc:
            checked.append((number, raw, None, exc.reason))
    # Rows go in file order, except that a carer's row that comes before its pupil's waits
    # until the end (the pupil may be further down the file).
    pupils_in_file = {row.external_ref for _, _, row, _ in checked if row is not None and row.kind == "pupil"}
    deferred: list[tuple[int, dict[str, Any], ImportRow | None, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    queue = checked
    while queue:
        for number, raw, row, reason in queue:
            line: ImportLine | None = None
            if row is not None and reason is None:
                if (
                    queue is checked
                    and row.carer_of is not None
                    and row.carer_of not in state.people
                    and row.carer_of in pupils_in_file
                ):
                    deferred.append((number, raw, row, reason))
                    continue
                if (row.external_ref, row.carer_of) in seen:
                    reason = "This external_ref appears twice in the roll."
                else:
                    seen.add((row.external_ref, row.carer_of))
                    line, reason, reload = await _import_row(
                        session, state, number, row, school_id=school_id, now=now
                    )
                    if reload:
                        # A failed savepoint expired what it touched: read the school again.
                        state = await _load_state(session, school_id, state.changed)
            if line is None:
                line = ImportLine(
                    row=number,
                    external_ref=_raw_text(raw, "external_ref"),
                    kind=_raw_text(raw, "kind"),
                    status="refused",
                    reason=reason or "The row could not be applied.",
                )
            if dry_run and line.status == "created":
                line.person_id = None  # nothing is kept by a dry run
            setattr(counts, line.status, getattr(counts, line.status) + 1)
            lines.append(line)
        queue, deferred = (deferred, []) if queue is checked else ([], [])

    if mark_absent_as_left:
        for person in sorted(state.people.values(), key=lambda p: p.external_ref or ""):
            if person.kind == "pupil" and person.is_on_roll and person.external_ref not in present_pupils:
                person.is_on_roll = False
                person.left_on = now.date()
                person.version += 1
                person.updated_at = now
                await people_service.deactivate_accounts(session, person.id, now=now)
                state.changed[("person", person.id)] = None
                leavers.append(LeaverLine(external_ref=person.external_ref, person_id=person.id))
        await session.flush()
        counts.left = len(leavers)

    # Taken last: the feed counter stays locked from here until the import commits.
    await record_changes(session, list(state.changed), at=now)
    lines.sort(key=lambda line: line.row)
    if outer is not None:
        await outer.rollback()
    else:
        await audit.record(
            session,
            actor=actor,
            action="people.imported",
            target_type="school",
            target_id=school_id,
            school_id=school_id,
            detail={**counts.model_dump(), "rows": len(rows), "mark_absent_as_left": mark_absent_as_left},
            at=now,
        )
    return ImportReport(school_id=school_id, dry_run=dry_run, counts=counts, rows=lines, left=leavers)
