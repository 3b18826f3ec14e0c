"""Consents ending in the next 30 days: the office is told once a week, by an e-mail (through a real
SMTP server on loopback) that names no pupil. The clock starts on Monday 7 September 2026, 08:30 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from servicekit.clock import FrozenClock
from tests.mailbox import Mailbox, assert_says_nothing, deliver, mailbox, point_alerts_at, staff_address  # noqa: F401
from tests.media_consent.conftest import record_consent
from tests.world import School


async def test_consents_expiring_reach_the_office_weekly(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    clock: FrozenClock,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    pupil = await school.add_pupil("Amara", "Okafor", year_group="5", external_ref="A123")
    await record_consent(client, school, pupil, {"website/photo": "individual"}, valid_until="2026-09-30")

    ran = await app.state.scheduler.tick()
    assert [(job, key) for job, _, key in ran] == [("consents.expiring", "2026-W37")]
    await deliver(app)
    assert mailbox.inbox.recipients() == [staff_address("office")]
    assert_says_nothing(mailbox.inbox, "Amara", "Okafor", "A123", "website", str(pupil))

    # Once a week: later the same week nothing more; the next Monday, again.
    clock.set(datetime(2026, 9, 11, 9, 0, tzinfo=UTC))
    assert await app.state.scheduler.tick() == []
    clock.set(datetime(2026, 9, 14, 6, 30, tzinfo=UTC))  # Monday 07:30 in London
    assert [key for _, _, key in await app.state.scheduler.tick()] == ["2026-W38"]
    await deliver(app)
    assert len(mailbox.inbox.messages) == 2


async def test_nothing_expiring_nothing_sent(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    point_alerts_at(app, school.staff, mailbox)
    pupil = await school.add_pupil("Ben", "Hughes", year_group="6", external_ref="B456")
    await record_consent(client, school, pupil, {"website/photo": "individual"}, valid_until="2027-07-31")
    await app.state.scheduler.tick()
    await deliver(app)
    assert mailbox.inbox.messages == []
