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

from identity.changes.service import record_change
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
from identity.people.schemas import CarerLinkCreate, PersonCreate
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


async def _load_state(session: AsyncSession, school_id: uuid.UUID) -> _State:
    people = await session.scalars(
        select(Person).where(Person.school_id == school_id, Person.external_ref.is_not(None))
    )
    links = await session.scalars(
        select(CarerLink).where(CarerLink.school_id == school_id, CarerLink.is_active.is_(True))
    )
    return _State(
        people={p.external_ref: p for p in people if p.external_ref is not None},
        links={(link.pupil_id, link.carer_id): link for link in links},
    )


async def _upsert_person(
    session: AsyncSession,
    state: _State,
    row: ImportRow,
    *,
    school_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> tuple[Person, RowStatus]:
    """Create or bring up to date the row's person; returns it and created/updated/unchanged."""
    person = state.people.get(row.external_ref)
    if person is None:
        person = await people_service.create_person(
            session,
            school_id=school_id,
            data=PersonCreate(
                school_id=school_id,
                kind=row.kind,
                given_name=row.given_name,
                family_name=row.family_name,
                year_group=row.year_group,
                external_ref=row.external_ref,
                date_of_birth=row.date_of_birth,
            ),
            actor=actor,
            now=now,
            audited=False,
        )
        return person, "created"
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
    changed = {k: v for k, v in wanted.items() if getattr(person, k) != v}
    if not changed:
        return person, "unchanged"
    for key, value in changed.items():
        setattr(person, key, value)
    person.version += 1
    person.updated_at = now
    await people_service.person_changed(
        session, person, actor=actor, action="person.updated", now=now, audited=False
    )
    return person, "updated"


async def _apply_row(
    session: AsyncSession,
    state: _State,
    row: ImportRow,
    *,
    school_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> tuple[Person, RowStatus]:
    existing = state.people.get(row.external_ref)
    if existing is not None and existing.kind != row.kind:
        raise RowRefused(f"external_ref {row.external_ref} belongs to a {existing.kind}, not a {row.kind}.")
    pupil: Person | None = None
    if row.carer_of is not None:
        pupil = state.people.get(row.carer_of)
        if pupil is None or pupil.kind != "pupil":
            raise RowRefused(f"carer_of: no pupil with external_ref {row.carer_of} in this school.")
    person, status = await _upsert_person(session, state, row, school_id=school_id, actor=actor, now=now)
    if pupil is None or row.relationship is None or row.parental_responsibility is None:
        return person, status
    link = state.links.get((pupil.id, person.id))
    if link is None:
        await people_service.link_carer(
            session,
            pupil,
            person,
            data=CarerLinkCreate(
                carer_id=person.id,
                relationship=row.relationship,
                parental_responsibility=row.parental_responsibility,
            ),
            actor=actor,
            now=now,
            audited=False,
        )
        return person, "created" if status == "created" else "updated"
    if (link.relationship, link.has_parental_responsibility) != (
        row.relationship,
        row.parental_responsibility,
    ):
        link.relationship = row.relationship
        link.has_parental_responsibility = row.parental_responsibility
        await session.flush()
        await record_change(session, kind="carer_link", entity_id=link.id, at=now)
        return person, "created" if status == "created" else "updated"
    return person, status


async def _import_row(
    session: AsyncSession,
    state: _State,
    number: int,
    row: ImportRow,
    *,
    school_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> tuple[ImportLine | None, str | None, bool]:
    """Apply one row in its own savepoint: (its line, or None and the reason; reload needed)."""
    try:
        async with session.begin_nested():
            person, status = await _apply_row(session, state, row, school_id=school_id, actor=actor, now=now)
    except RowRefused as exc:
        return None, exc.reason, False
    except ProblemError as exc:
        return None, exc.detail, True
    except SQLAlchemyError:
        return None, "The row conflicts with data already stored.", True
    state.people[row.external_ref] = person
    if row.carer_of is not None:
        pupil = state.people[row.carer_of]
        link = await people_service.active_link(session, pupil.id, person.id)
        if link is not None:
            state.links[(pupil.id, person.id)] = link
    line = ImportLine(
        row=number,
        external_ref=row.external_ref,
        kind=row.kind,
        status=status,
        person_id=person.id,
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
    state = await _load_state(session, school_id)

    checked: list[tuple[int, dict[str, Any], ImportRow | None, str | None]] = []
    for number, raw in rows:
        try:
            checked.append((number, raw, check_row(raw), None))
        except RowRefused as exc:
            checked.append((number, raw, None, exc.reason))
    # People first, then carers' rows: a carer's row may come before its pupil's in the file.
    checked.sort(key=lambda item: (item[2] is not None and item[2].carer_of is not None, item[0]))

    seen: set[tuple[str, str | None]] = set()
    for number, raw, row, reason in checked:
        line: ImportLine | None = None
        if row is not None and reason is None:
            if (row.external_ref, row.carer_of) in seen:
                reason = "This external_ref appears twice in the roll."
            else:
                seen.add((row.external_ref, row.carer_of))
                line, reason, reload = await _import_row(
                    session, state, number, row, school_id=school_id, actor=actor, now=now
                )
                if reload:
                    # A failed savepoint expired what it touched: read the school again.
                    state = await _load_state(session, school_id)
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

    if mark_absent_as_left:
        for person in sorted(state.people.values(), key=lambda p: p.external_ref or ""):
            if person.kind == "pupil" and person.is_on_roll and person.external_ref not in present_pupils:
                await people_service.mark_left(
                    session, person, left_on=now.date(), actor=actor, now=now, audited=False
                )
                leavers.append(LeaverLine(external_ref=person.external_ref, person_id=person.id))
        counts.left = len(leavers)

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
