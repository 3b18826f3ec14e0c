"""The annual housekeeping (`manage.py retention`, servicekit.retention): records due for review by
retention class, per service; idempotency records past their expiry. The attack: an incident under
legal hold is never offered for deletion, past its review date or not, whatever a rule's query
selects, and nowhere in the command's output."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from incidents.incident.models import Incident
from incidents.retention import RULES as INCIDENT_RULES
from media_consent.retention import RULES as CONSENT_RULES
from scripts import ops
from servicekit.db import create_engine, make_sessionmaker
from servicekit.platform import load_spec
from servicekit.retention import RetentionRule, add_years, due_for_review, service_report
from servicekit.testing import migrated_database

ROOT = Path(__file__).resolve().parent.parent
SPEC = load_spec(ROOT)
ON = date(2052, 1, 31)
NOW = datetime(2052, 1, 31, 9, 0, tzinfo=UTC)
SCHOOL = uuid.uuid4()


@pytest.fixture
def incidents_url(tmp_path: Path) -> Any:
    with migrated_database("incidents", SPEC.service("incidents").dir, tmp_path) as url:
        yield url


def incident(n: int, *, retention_class: str, status: str, review_on: date, hold: bool) -> Incident:
    at = datetime(2020, 1, 1, tzinfo=UTC)
    return Incident(
        id=uuid.uuid4(),
        school_id=SCHOOL,
        reference=f"INC-{n:05d}",
        category="cyberbullying",
        severity="medium",
        status=status,
        location="on_site",
        summary="A record",
        occurred_at=at,
        recorded_at=at,
        reported_by="teacher",
        version=1,
        updated_at=at,
        change_seq=n,
        retention_class=retention_class,
        review_on=review_on,
        has_legal_hold=hold,
        legal_hold_reason="police investigation" if hold else None,
    )


async def add(url: str, rows: list[Any]) -> None:
    engine = create_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            session.add_all(rows)
            await session.commit()
    finally:
        await engine.dispose()


async def report_for(url: str, rules: list[RetentionRule], on: date = ON) -> Any:
    engine = create_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await service_report(session, "incidents", rules, on=on, now=NOW)
    finally:
        await engine.dispose()


async def test_closed_incidents_past_their_review_date_are_offered_by_class(incidents_url: str) -> None:
    past, future = ON - timedelta(days=1), ON + timedelta(days=1)
    due = incident(1, retention_class="safeguarding", status="closed", review_on=past, hold=False)
    today = incident(2, retention_class="operational", status="closed", review_on=ON, hold=False)
    still_open = incident(3, retention_class="safeguarding", status="open", review_on=past, hold=False)
    not_yet = incident(4, retention_class="allegation", status="closed", review_on=future, hold=False)
    held = incident(5, retention_class="safeguarding", status="closed", review_on=past, hold=True)
    await add(incidents_url, [due, today, still_open, not_yet, held])
    report = await report_for(incidents_url, INCIDENT_RULES)
    by_class = {c.retention_class: c for c in report.classes}
    assert [r.id for r in by_class["safeguarding"].due] == [str(due.id)]
    assert by_class["safeguarding"].held == 1
    assert [r.id for r in by_class["operational"].due] == [str(today.id)]
    assert by_class["allegation"].due == []
    assert by_class["safeguarding"].due[0].school_id == str(SCHOOL)
    assert by_class["safeguarding"].due[0].review_on == past


async def test_a_legal_hold_is_never_offered_whatever_the_rule_selects(incidents_url: str) -> None:
    """Attack: a rule written carelessly (no hold filter; or not even selecting the hold) still never
    offers a held incident; of many random incidents, no held one is ever in the report."""
    rng = random.Random(16)
    rows = [
        incident(
            n,
            retention_class=rng.choice(["safeguarding", "allegation", "operational"]),
            status=rng.choice(["closed", "closed", "open"]),
            review_on=ON + timedelta(days=rng.randint(-4000, 400)),
            hold=rng.random() < 0.3,
        )
        for n in range(300)
    ]
    await add(incidents_url, rows)
    held = {str(r.id) for r in rows if r.has_legal_hold}
    careless = RetentionRule(
        "everything",
        "incident",
        "every incident, hold or not",
        lambda on: select(Incident.id, Incident.school_id, Incident.review_on, Incident.has_legal_hold),
        legal_hold=True,
    )
    blind = RetentionRule(
        "blind",
        "incident",
        "a query that forgot the hold column",
        lambda on: select(Incident.id, Incident.school_id, Incident.review_on),
        legal_hold=True,
    )
    report = await report_for(incidents_url, [*INCIDENT_RULES, careless, blind])
    offered = {r.id for c in report.classes for r in c.due}
    assert offered, "the report offers the unheld incidents past their date"
    assert not offered & held
    by_class = {c.retention_class: c for c in report.classes}
    past = [r for r in rows if r.review_on <= ON]
    assert {r.id for r in by_class["everything"].due} == {str(r.id) for r in past if not r.has_legal_hold}
    assert by_class["everything"].held == sum(1 for r in past if r.has_legal_hold)
    assert by_class["blind"].due == []  # a hold it cannot read is a hold
    for n in range(5):  # and on any later day of review
        later = await report_for(incidents_url, INCIDENT_RULES, on=ON + timedelta(days=365 * n))
        assert not {r.id for c in later.classes for r in c.due} & held


async def test_the_command_never_prints_a_held_incident(incidents_url: str, capsys: Any) -> None:
    held = incident(1, retention_class="safeguarding", status="closed", review_on=date(2030, 1, 1), hold=True)
    free = incident(
        2, retention_class="safeguarding", status="closed", review_on=date(2030, 1, 1), hold=False
    )
    await add(incidents_url, [held, free])
    env = {"INCIDENTS_DATABASE_URL": incidents_url}
    options = ["--only", "incidents", "--on", ON.isoformat()]
    assert await _main("retention", [*options, "--json"], env) == 0
    out = capsys.readouterr().out
    assert str(held.id) not in out and str(free.id) in out
    (report,) = json.loads(out)
    safeguarding = next(c for c in report["classes"] if c["retention_class"] == "safeguarding")
    assert safeguarding["held_under_legal_hold"] == 1
    assert await _main("retention", options, env) == 0
    text = capsys.readouterr().out
    assert str(held.id) not in text and "1 past the review date under legal hold: kept, not offered" in text


async def _main(command: str, args: list[str], env: dict[str, str]) -> int:
    """ops.main runs its own event loop (as the command does); here it runs in a worker thread."""
    import asyncio

    return await asyncio.to_thread(ops.main, command, args, env)


async def test_consent_checks_are_offered_six_years_on(tmp_path: Path) -> None:
    from media_consent.checks.models import ConsentCheck

    with migrated_database("media_consent", SPEC.service("media_consent").dir, tmp_path) as url:
        old, recent = NOW - timedelta(days=365 * 6 + 5), NOW - timedelta(days=365 * 5)
        checks = [
            ConsentCheck(
                id=uuid.uuid4(),
                school_id=SCHOOL,
                actor="mle",
                source="api",
                purpose="website",
                media_type="photo",
                framing="group",
                pupil_ids=[],
                decision="allow",
                results=[],
                checked_at=at,
            )
            for at in (old, recent)
        ]
        await add(url, checks)
        engine = create_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                report = await due_for_review(session, CONSENT_RULES[0], ON)
        finally:
            await engine.dispose()
        assert [r.id for r in report.due] == [str(checks[0].id)]
        assert report.due[0].review_on == add_years(old.date(), 6) <= ON
