"""The annual housekeeping of the policy ("review, remove and destroy any digital materials and
documents which need no longer be stored"): which records are due for review, by retention class,
and the expiry of idempotency records.

Each service says what its retention classes are in `<package>/retention.py`:

    RULES = [RetentionRule("safeguarding", "incident", "closed, past its review date",
                           due=_due("safeguarding"), legal_hold=True)]

where `due(on)` is a SELECT of (id, school_id, review_on[, legal_hold]) for the records whose review
date is on or before `on`. The report only offers records for review; nothing is deleted by it.
A record under legal hold is never offered, whatever its rule's query says: a rule with
`legal_hold=True` selects the hold as a fourth column, the report drops every row where it is set
(and counts them, so the operator sees that holds exist), and the review date alone never makes a
held record due. Idempotency records expire after `idempotency_ttl_hours` (a replay is only
promised within it); `--expire-idempotency` deletes the expired ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Executable, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.models import IdempotencyRecord

DEFAULT_IDEMPOTENCY_TTL_HOURS = 24


@dataclass(frozen=True)
class RetentionRule:
    retention_class: str
    record_type: str
    description: str
    due: Callable[[date], Executable]
    legal_hold: bool = False
    # Set: the query's third column is the day the period starts (a record closed, a check made),
    # and the review date is that day + these years. Unset: the third column is the review date.
    after_years: int | None = None


@dataclass(frozen=True)
class DueRecord:
    record_type: str
    id: str
    school_id: str | None
    review_on: date


@dataclass
class ClassReport:
    retention_class: str
    record_type: str
    description: str
    due: list[DueRecord] = field(default_factory=list)
    held: int = 0  # past the review date, but under legal hold: never offered


@dataclass
class ServiceReport:
    service: str
    on: date
    classes: list[ClassReport] = field(default_factory=list)
    idempotency_expired: int = 0
    idempotency_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "on": self.on.isoformat(),
            "classes": [
                {
                    "retention_class": c.retention_class,
                    "record_type": c.record_type,
                    "description": c.description,
                    "due": [
                        {"id": r.id, "school_id": r.school_id, "review_on": r.review_on.isoformat()}
                        for r in c.due
                    ],
                    "held_under_legal_hold": c.held,
                }
                for c in self.classes
            ],
            "idempotency_expired": self.idempotency_expired,
            "idempotency_deleted": self.idempotency_deleted,
        }


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def years_before(on: date, years: int) -> datetime:
    """The first instant after the day `years` before `on`: what started before it is due on `on`."""
    return end_of(add_years(on, -years))


def end_of(day: date) -> datetime:
    """The first instant after `day` (UTC): a timestamp before it is on or before that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


async def due_for_review(session: AsyncSession, rule: RetentionRule, on: date) -> ClassReport:
    report = ClassReport(rule.retention_class, rule.record_type, rule.description)
    for row in (await session.execute(rule.due(on))).all():
        # A hold the query did not select, or could not read, counts as a hold.
        held = rule.legal_hold and (len(row) < 4 or row[3] is None or bool(row[3]))
        review_on = _as_date(row[2])
        if rule.after_years is not None:
            review_on = add_years(review_on, rule.after_years)
        if review_on > on:
            continue
        if held:
            report.held += 1
            continue
        school = row[1]
        report.due.append(
            DueRecord(
                rule.record_type,
                str(row[0]),
                str(school) if isinstance(school, uuid.UUID | str) else None,
                review_on,
            )
        )
    report.due.sort(key=lambda r: (r.review_on, r.id))
    return report


async def expired_idempotency(
    session: AsyncSession,
    *,
    now: datetime,
    ttl_hours: int = DEFAULT_IDEMPOTENCY_TTL_HOURS,
    delete_them: bool = False,
) -> int:
    """How many idempotency records are older than `ttl_hours` (and delete them when asked)."""
    cutoff = now - timedelta(hours=ttl_hours)
    count = int(
        await session.scalar(
            select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
        )
        or 0
    )
    if delete_them and count:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return count


async def service_report(
    session: AsyncSession,
    service: str,
    rules: Sequence[RetentionRule],
    *,
    on: date,
    now: datetime,
    ttl_hours: int = DEFAULT_IDEMPOTENCY_TTL_HOURS,
    expire_idempotency: bool = False,
) -> ServiceReport:
    report = ServiceReport(service, on)
    for rule in rules:
        report.classes.append(await due_for_review(session, rule, on))
    report.idempotency_expired = await expired_idempotency(
        session, now=now, ttl_hours=ttl_hours, delete_them=expire_idempotency
    )
    if expire_idempotency:
        report.idempotency_deleted = report.idempotency_expired
    return report


def render_report(reports: Sequence[ServiceReport], *, on: date) -> str:
    lines = [f"Records due for review on {on.isoformat()} (nothing is deleted by this report)", ""]
    for report in reports:
        lines.append(f"{report.service}:")
        for c in report.classes:
            lines.append(f"  {c.retention_class} ({c.record_type}: {c.description}): {len(c.due)} due")
            lines.extend(
                f"    {r.id}  school {r.school_id}  review date {r.review_on.isoformat()}" for r in c.due
            )
            if c.held:
                lines.append(f"    {c.held} past the review date under legal hold: kept, not offered")
        deleted = f", {report.idempotency_deleted} deleted" if report.idempotency_deleted else ""
        lines.append(f"  idempotency records past their expiry: {report.idempotency_expired}{deleted}")
    return "\n".join(lines)
