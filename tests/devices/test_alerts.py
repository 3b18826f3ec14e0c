"""The devices service's end-of-day alerts, e-mailed through a real SMTP server on loopback.

The clock starts on Monday 7 September 2026, 08:30 UTC (09:30 in London); the school day ends at
15:30 London time (14:30 UTC) unless the school's own time says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from servicekit.alerts import Scheduler, SchoolDay
from servicekit.clock import FrozenClock
from servicekit.models import AuditEntry, StaffAlert
from tests.devices.test_image_uses import note, permit, use
from tests.devices.test_phone_custody import handin, register
from tests.mailbox import Mailbox, assert_says_nothing, deliver, mailbox, point_alerts_at, staff_address  # noqa: F401
from tests.world import School

DEVICES = "/v1/devices/staff-devices"
BEFORE_THE_END = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
AFTER_THE_END = datetime(2026, 9, 7, 14, 31, tzinfo=UTC)
AN_HOUR_LATER = datetime(2026, 9, 7, 15, 31, tzinfo=UTC)


async def test_phones_still_held_at_the_end_of_the_day_alert_the_office_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    await register(client, school, handin(school))
    scheduler: Scheduler = app.state.scheduler

    clock.set(BEFORE_THE_END)
    assert await scheduler.tick() == []
    clock.set(AFTER_THE_END)
    assert "phones.still_held" in [job for job, _, _ in await scheduler.tick()]
    await deliver(app)
    assert mailbox.inbox.recipients() == [staff_address("office")]
    assert_says_nothing(
        mailbox.inbox, "Amara", "Okafor", "Samsung", "Reception drawer", str(school.pupils[0])
    )

    # Once per school and day, whatever the workers: this one again, and a second one, do nothing.
    second = Scheduler(lambda: app.state.sessionmaker(), scheduler.jobs, scheduler.school_day, clock)
    clock.set(AN_HOUR_LATER)
    assert [job for job, _, _ in await scheduler.tick()] == ["image_uses.not_deleted.escalated"]
    assert [job for job, _, _ in await second.tick()] == []
    await deliver(app)
    assert len(mailbox.inbox.messages) == 1


async def test_the_end_of_the_day_is_the_schools_own(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    await register(client, school, handin(school))
    scheduler: Scheduler = app.state.scheduler
    scheduler.school_day = SchoolDay(by_school={school.id: time(16, 15)})
    clock.set(AFTER_THE_END)  # 15:31 in London: this school is still open
    assert await scheduler.tick() == []
    clock.set(datetime(2026, 9, 7, 15, 16, tzinfo=UTC))  # 16:16 in London
    assert "phones.still_held" in [job for job, _, _ in await scheduler.tick()]


async def test_no_phone_held_no_alert(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    clock.set(AFTER_THE_END)
    await app.state.scheduler.tick()
    await deliver(app)
    assert mailbox.inbox.messages == []


async def test_image_uses_not_confirmed_deleted_alert_the_owner_then_the_head(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    teacher = str(school.staff["teacher"])
    device = await note(client, school, teacher)
    await permit(client, school, device, "2026-09-11T16:00:00Z")
    recorded = await client.post(
        f"{DEVICES}/{device}/image-uses", json=use("2026-09-07"), headers=school.headers("teacher")
    )
    assert recorded.status_code == 201, recorded.text

    clock.set(AFTER_THE_END)
    await app.state.scheduler.tick()
    await deliver(app)
    assert mailbox.inbox.recipients() == [staff_address("teacher")]
    clock.set(AN_HOUR_LATER)
    await app.state.scheduler.tick()
    await deliver(app)
    assert mailbox.inbox.recipients() == [staff_address("head_teacher"), staff_address("teacher")]
    assert_says_nothing(mailbox.inbox, "Science Museum", "school_trip", "iPhone", "Year 5")


async def test_a_confirmed_deletion_is_recorded_and_stops_the_alerts(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    device = await note(client, school, str(school.staff["teacher"]))
    await permit(client, school, device, "2026-09-11T16:00:00Z")
    recorded = await client.post(
        f"{DEVICES}/{device}/image-uses", json=use("2026-09-07"), headers=school.headers("teacher")
    )
    use_id = recorded.json()["id"]
    url = f"{DEVICES}/{device}/image-uses/{use_id}/deletion"

    # Nobody but the owner or the head confirms it.
    refused = await client.post(url, headers=school.headers("computing_lead"))
    assert refused.status_code == 403
    confirmed = await client.post(url, headers=school.headers("teacher"))
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["image_use_id"] == use_id
    assert confirmed.json()["confirmed_at"] == clock.now().isoformat().replace("+00:00", "Z")
    again = await client.post(url, headers=school.headers("teacher"))
    assert again.status_code == 409 and again.json()["type"].endswith("deletion-already-confirmed")

    clock.set(AN_HOUR_LATER)
    await app.state.scheduler.tick()
    await deliver(app)
    assert mailbox.inbox.messages == []
    async with app.state.sessionmaker() as session:
        assert list(await session.scalars(select(StaffAlert))) == []
        [entry] = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_device.image_deletion_confirmed")
        )
    assert entry.target_id == use_id
