"""servicekit.alerts without a service: the scheduler runs a period once whatever the workers
(two ticking at the same moment on one database), and quiet hours in the school's time zone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.alerts import Contact, Job, Period, Scheduler, SchoolDay, at_end_of_day, raise_alert, weekly
from servicekit.clock import FrozenClock
from servicekit.db import create_engine, make_sessionmaker
from servicekit.models import OutboxMessage, ReplicaSchool, ScheduledRun, StaffAlert

SCHOOL = uuid.uuid4()
OFFICE = uuid.uuid4()


@pytest.fixture
async def sessions(kit_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(kit_database, pool_size=4)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        session.add(ReplicaSchool(id=SCHOOL, name="School", urn=None, la_code="201"))
        await session.commit()
    yield maker
    await engine.dispose()


async def alert_the_office(
    session: AsyncSession, school_id: uuid.UUID, period: Period, now: datetime
) -> None:
    await raise_alert(
        session,
        kind="phones.still_held",
        school_id=school_id,
        recipients=[OFFICE],
        period_key=period.key,
        now=now,
    )


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_two_workers_run_a_period_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FrozenClock(datetime(2026, 12, 2, 15, 45, tzinfo=UTC))  # 15:45 in London (GMT): after the day
    jobs = [Job("phones.still_held", at_end_of_day(), alert_the_office)]
    first, second = (Scheduler(sessions, jobs, SchoolDay(), clock) for _ in range(2))
    ran = await asyncio.gather(first.tick(), second.tick())
    assert sorted(len(r) for r in ran) == [0, 1]
    assert [key for _, _, key in ran[0] + ran[1]] == ["2026-12-02"]
    assert await count(sessions, ScheduledRun) == 1
    assert await count(sessions, StaffAlert) == 1
    assert await count(sessions, OutboxMessage) == 1  # its e-mail, in the same transaction
    # Later the same day: nothing; the next school day: again.
    clock.set(datetime(2026, 12, 2, 20, 0, tzinfo=UTC))
    assert await first.tick() == []
    clock.set(datetime(2026, 12, 3, 16, 0, tzinfo=UTC))
    assert [key for _, _, key in await second.tick()] == ["2026-12-03"]
    assert await count(sessions, StaffAlert) == 2


async def test_the_weekend_has_no_end_of_day_and_a_week_one_key() -> None:
    day = SchoolDay()
    saturday = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
    assert at_end_of_day()(day, SCHOOL, saturday) is None
    period = weekly()(day, SCHOOL, saturday)
    assert period is not None and period.key == "2026-W49"
    assert weekly()(day, SCHOOL, datetime(2026, 11, 30, 6, 59, tzinfo=UTC)) is None  # Monday 06:59


def test_quiet_hours_in_the_schools_time_zone() -> None:
    contact = Contact(
        person_id=OFFICE, email="office@school.example", quiet_hours_start=time(18), quiet_hours_end=time(7)
    )
    summer_evening = datetime(2026, 9, 7, 17, 30, tzinfo=UTC)  # 18:30 BST
    assert contact.quiet_until(summer_evening) == datetime(2026, 9, 8, 6, 0, tzinfo=UTC)
    assert contact.quiet_until(datetime(2026, 9, 7, 16, 30, tzinfo=UTC)) is None  # 17:30 BST
    winter_morning = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)  # 06:30 GMT
    assert contact.quiet_until(winter_morning) == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    day_time = Contact(person_id=OFFICE, quiet_hours_start=time(12), quiet_hours_end=time(13))
    assert day_time.quiet_until(datetime(2026, 12, 2, 12, 15, tzinfo=UTC)) == datetime(
        2026, 12, 2, 13, 0, tzinfo=UTC
    )


def test_the_school_day_from_the_environment() -> None:
    other = uuid.uuid4()
    day = SchoolDay.from_env(
        {"PLATFORM_SCHOOL_DAY_ENDS_AT": "15:15", "PLATFORM_SCHOOL_DAY_ENDS_AT_BY_SCHOOL": f"{other}=16:00"}
    )
    assert day.ends_at == time(15, 15) and day.by_school == {other: time(16)}
    assert SchoolDay.from_env({}).ends_at == time(15, 30)
    with pytest.raises(ValueError):
        SchoolDay.from_env({"PLATFORM_SCHOOL_DAY_ENDS_AT": "half past three"})
