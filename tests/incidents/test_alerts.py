"""A new incident alerts the right people at once, by e-mail through a real SMTP server on loopback,
and the e-mail carries nothing of the concern: no child's name, no summary, no category.

Who is alerted follows the read rule: the subject of an allegation, or of a restricted concern, and
anyone who may not read the incident never receives its alert. Quiet hours hold an alert until
they end; a digest gathers a day's alerts into one e-mail. Every alert sent is audited (who, what
kind, when), never with its content.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from servicekit.alerts import Contact, StaticContactDirectory
from servicekit.clock import FrozenClock
from servicekit.models import AuditEntry, StaffAlert
from tests.incidents.conftest import report
from tests.mailbox import Mailbox, mailbox  # noqa: F401 - the fixture
from tests.world import School

SUMMARY = "Unkind messages in a class group chat, reported by a parent."
IncidentBody = Callable[..., dict[str, object]]


def address(role: str) -> str:
    return f"{role.replace('_', '.')}@school.example"


@pytest.fixture
async def alerting(app: FastAPI, school: School, mailbox: Mailbox) -> StaticContactDirectory:  # noqa: F811
    """Every member of staff has an address; the app's alert sender e-mails the loopback server."""
    directory = StaticContactDirectory(
        Contact(person_id=person_id, email=address(role)) for role, person_id in school.staff.items()
    )
    sender = app.state.alert_sender
    sender.smtp = mailbox.settings
    sender.directory = directory
    return directory


async def deliver(app: FastAPI) -> int:
    """Run the outbox worker until nothing is due (one message at a time: the test's sessions share
    one rolled-back connection, which concurrent deliveries would interleave)."""
    app.state.outbox.batch_size = 1
    return int(await app.state.outbox.run_until_idle())


def assert_says_nothing(mailbox: Mailbox, *secrets: str) -> None:  # noqa: F811
    assert mailbox.inbox.raw, "no e-mail to look at"
    for raw in mailbox.inbox.raw:
        text = raw.decode("utf-8", "replace").lower()
        for secret in secrets:
            assert secret.lower() not in text, f"{secret!r} is in an alert e-mail"


async def alerts(app: FastAPI) -> list[StaffAlert]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(StaffAlert).order_by(StaffAlert.created_at)))


async def test_a_new_concern_reaches_the_safeguarding_lead_and_says_nothing_of_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    incident = await report(client, school, incident_body("grooming"))
    assert mailbox.inbox.messages == []  # in the outbox, committed with the incident
    await deliver(app)

    assert mailbox.inbox.recipients() == [address("safeguarding_lead")]
    [message] = mailbox.inbox.messages
    [alert] = await alerts(app)
    assert alert.status == "sent" and alert.kind == "incident.new"
    link = f"{app.state.settings.public_base_url}/alerts/{alert.id}"
    assert link in message.get_content()
    assert message["Message-ID"] == f"<alert-{alert.id}@platform.example>"
    # Nothing of the concern: not the child, not the text, not the category, not the reference.
    assert_says_nothing(
        mailbox,
        "Pupil0",
        "Pupil1",
        "Child",
        SUMMARY,
        "group chat",
        "grooming",
        incident["reference"],
        incident["id"],
    )

    # Delivering again sends nothing more (the outbox message is done; the alert is sent).
    await deliver(app)
    assert len(mailbox.inbox.messages) == 1


async def test_an_allegation_goes_to_the_head_only_never_to_the_person_named(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    named = school.staff["computing_lead"]
    body = incident_body(
        "allegation_against_staff",
        people=[
            {"person_id": str(named), "role": "subject"},
            {"person_id": str(school.pupils[0]), "role": "affected"},
        ],
    )
    await report(client, school, body)
    await deliver(app)
    assert mailbox.inbox.recipients() == [address("head_teacher")]
    assert mailbox.inbox.to(address("computing_lead")) == []
    assert mailbox.inbox.to(address("safeguarding_lead")) == []
    assert_says_nothing(mailbox, "allegation", "Computing Lead", "Pupil0", SUMMARY)


async def test_an_allegation_against_the_head_alerts_nobody_here(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    body = incident_body(
        "allegation_against_staff",
        people=[{"person_id": str(school.staff["head_teacher"]), "role": "subject"}],
    )
    await report(client, school, body)
    await deliver(app)
    assert mailbox.inbox.messages == []
    assert await alerts(app) == []


async def test_the_subject_of_a_restricted_concern_is_not_alerted(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    second = await school.add_person("staff", "Second", "Lead", roles=["safeguarding_lead"])
    alerting.set(Contact(person_id=second, email="second.lead@school.example"))
    body = incident_body(
        "sexting",
        people=[
            {"person_id": str(school.pupils[0]), "role": "affected"},
            {"person_id": str(second), "role": "subject"},
        ],
    )
    await report(client, school, body)
    await deliver(app)
    assert mailbox.inbox.recipients() == [address("safeguarding_lead")]
    assert mailbox.inbox.to("second.lead@school.example") == []


async def test_a_critical_incident_reaches_the_head_too(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    await report(client, school, incident_body("cyberbullying", severity="critical"))
    await deliver(app)
    assert mailbox.inbox.recipients() == [address("head_teacher"), address("safeguarding_lead")]
    assert_says_nothing(mailbox, "critical", "cyberbullying", "Pupil0", SUMMARY)


async def test_who_lost_the_right_to_see_it_before_delivery_is_not_alerted(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    from servicekit.models import ReplicaPerson

    await report(client, school, incident_body("grooming"))
    async with app.state.sessionmaker() as session:  # the lead's role is taken away meanwhile
        lead = await session.get(ReplicaPerson, school.staff["safeguarding_lead"])
        assert lead is not None
        lead.roles = ["teacher"]
        await session.commit()
    await deliver(app)
    assert mailbox.inbox.messages == []
    [alert] = await alerts(app)
    assert alert.status == "withdrawn"


async def test_every_alert_sent_is_audited_without_its_content(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
    clock: FrozenClock,
) -> None:
    incident = await report(client, school, incident_body("cyberbullying", severity="critical"))
    await deliver(app)
    async with app.state.sessionmaker() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "alert.sent").order_by(AuditEntry.target_id)
            )
        )
    assert sorted((e.target_id, e.detail["kind"]) for e in entries) == sorted(
        [
            (str(school.staff["head_teacher"]), "incident.critical"),
            (str(school.staff["safeguarding_lead"]), "incident.new"),
        ]
    )
    for entry in entries:
        assert entry.actor == "system:alerts" and entry.at == clock.now() and entry.school_id == school.id
        assert set(entry.detail) == {"alert_id", "kind", "channel", "digest"}
        assert incident["id"] not in str(entry.detail) and SUMMARY not in str(entry.detail)


async def test_quiet_hours_hold_an_alert_until_they_end(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
    clock: FrozenClock,
) -> None:
    lead = school.staff["safeguarding_lead"]
    alerting.set(
        Contact(
            person_id=lead,
            email=address("safeguarding_lead"),
            quiet_hours_start=time(18),
            quiet_hours_end=time(7),
        )
    )
    clock.set(datetime(2026, 9, 7, 20, 0, tzinfo=UTC))  # 21:00 in London: quiet
    await report(client, school, incident_body("grooming", occurred_at="2026-09-07T19:00:00Z"))
    await deliver(app)
    assert mailbox.inbox.messages == []
    # The night passes; the outbox looks again on the way (at most an hour apart) and holds it
    # until 06:00 UTC, 07:00 in London, the end of the quiet hours.
    for hour in range(21, 31):
        clock.set(datetime(2026, 9, 7, 0, 0, tzinfo=UTC) + timedelta(hours=hour))
        await deliver(app)
        assert len(mailbox.inbox.messages) == (1 if hour == 30 else 0)
    [alert] = await alerts(app)
    assert alert.sent_at is not None and alert.sent_at >= datetime(2026, 9, 8, 6, 0, tzinfo=UTC)


async def test_a_digest_gathers_the_days_alerts_into_one_email(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
    clock: FrozenClock,
) -> None:
    lead = school.staff["safeguarding_lead"]
    alerting.set(Contact(person_id=lead, email=address("safeguarding_lead"), digest=True))
    await report(client, school, incident_body("grooming"))
    await report(client, school, incident_body("cyberbullying"))
    await deliver(app)
    assert mailbox.inbox.messages == []
    clock.set(datetime(2026, 9, 8, 6, 30, tzinfo=UTC))  # 07:30 in London: the digest's time
    await deliver(app)
    [message] = mailbox.inbox.messages
    sent = await alerts(app)
    assert [a.status for a in sent] == ["sent", "sent"]
    for alert in sent:
        assert f"/alerts/{alert.id}" in message.get_content()
    assert_says_nothing(mailbox, "grooming", "cyberbullying", "Pupil0", SUMMARY)


async def test_no_address_keeps_the_alert_in_the_console_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    alerting.set(Contact(person_id=school.staff["safeguarding_lead"], email=None))
    await report(client, school, incident_body("grooming"))
    await deliver(app)
    assert mailbox.inbox.messages == []
    [alert] = await alerts(app)
    assert alert.status == "in_app"


async def test_a_relay_that_is_down_loses_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
    clock: FrozenClock,
) -> None:
    from servicekit.mail import SmtpSettings
    from servicekit.testing import free_port

    app.state.alert_sender.smtp = SmtpSettings(host="127.0.0.1", port=free_port(), timeout_seconds=2)
    await report(client, school, incident_body("grooming"))
    await deliver(app)
    [alert] = await alerts(app)
    assert alert.status == "pending"
    app.state.alert_sender.smtp = mailbox.settings  # the relay is back
    clock.advance(minutes=5)
    await deliver(app)
    assert mailbox.inbox.recipients() == [address("safeguarding_lead")]
    assert uuid.UUID(str(alert.id))


async def test_the_console_lists_ones_own_alerts_and_nobody_elses(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
) -> None:
    incident = await report(client, school, incident_body("grooming"))
    mine = await client.get("/v1/incidents/alerts/mine", headers=school.headers("safeguarding_lead"))
    assert mine.status_code == 200, mine.text
    [item] = mine.json()["items"]
    assert (item["kind"], item["target_type"], item["target_id"]) == (
        "incident.new",
        "incident",
        incident["id"],
    )
    assert item["read_at"] is None

    # Another member of staff sees none of it, and cannot mark it read (404: not theirs to know of).
    theirs = await client.get("/v1/incidents/alerts/mine", headers=school.headers("teacher"))
    assert theirs.json()["items"] == []
    other = await client.post(
        f"/v1/incidents/alerts/{item['id']}/read", headers=school.headers("head_teacher")
    )
    assert other.status_code == 404
    read = await client.post(
        f"/v1/incidents/alerts/{item['id']}/read", headers=school.headers("safeguarding_lead")
    )
    assert read.status_code == 200 and read.json()["read_at"] is not None

    # Once the lead may no longer see the incident, the alert no longer points at it.
    from servicekit.models import ReplicaPerson

    async with app.state.sessionmaker() as session:
        lead = await session.get(ReplicaPerson, school.staff["safeguarding_lead"])
        assert lead is not None
        lead.roles = ["teacher"]
        await session.commit()
    [after] = (
        await client.get("/v1/incidents/alerts/mine", headers=school.headers("safeguarding_lead"))
    ).json()["items"]
    assert after["target_id"] is None and after["status"] == "withdrawn"


async def test_ones_unread_alerts_of_one_record_are_listed_and_no_one_elses(
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
) -> None:
    first = await report(client, school, incident_body("cyberbullying"))
    second = await report(client, school, incident_body("cyberbullying"))
    lead = school.headers("safeguarding_lead")

    async def unread(**params: str) -> list[str]:
        found = await client.get(
            "/v1/incidents/alerts/mine", params={"unread": "true", **params}, headers=lead
        )
        assert found.status_code == 200, found.text
        return [str(a["target_id"]) for a in found.json()["items"]]

    assert sorted(await unread(target_type="incident")) == sorted([first["id"], second["id"]])
    [alert] = (
        await client.get("/v1/incidents/alerts/mine", params={"target_id": first["id"]}, headers=lead)
    ).json()["items"]
    assert alert["target_id"] == first["id"]
    read = await client.post(f"/v1/incidents/alerts/{alert['id']}/read", headers=lead)
    assert read.status_code == 200, read.text
    assert await unread(target_type="incident") == [second["id"]]
    assert await unread(target_id=first["id"]) == []
    assert await unread(target_type="phones") == []
    # The filter never widens the list: another member of staff asking for the record gets nothing.
    theirs = await client.get(
        "/v1/incidents/alerts/mine", params={"target_id": second["id"]}, headers=school.headers("teacher")
    )
    assert theirs.json()["items"] == []


async def test_with_mail_off_alerts_are_in_the_console_only(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    from servicekit.mail import SmtpSettings

    app.state.alert_sender.smtp = SmtpSettings()  # no PLATFORM_SMTP_HOST
    await report(client, school, incident_body("grooming"))
    await deliver(app)
    assert mailbox.inbox.messages == []
    assert [a.status for a in await alerts(app)] == ["in_app"]


async def test_a_crash_after_sending_sends_again_with_the_same_message_id(
    app: FastAPI,
    client: httpx.AsyncClient,
    school: School,
    incident_body: IncidentBody,
    alerting: StaticContactDirectory,
    mailbox: Mailbox,  # noqa: F811
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At least once: a sender that dies between the relay's 250 and recording it (here, its
    transaction fails) leaves the alert pending; the retry sends the same Message-ID again, which
    is what a receiver de-duplicates by. Only the delivery that was recorded is audited."""
    from servicekit import audit

    real = audit.record
    calls = {"n": 0}

    async def fails_once(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the process died here")
        await real(*args, **kwargs)

    await report(client, school, incident_body("grooming"))
    monkeypatch.setattr(audit, "record", fails_once)
    await deliver(app)
    assert len(mailbox.inbox.messages) == 1
    [alert] = await alerts(app)
    assert alert.status == "pending"
    clock.advance(minutes=1)
    await deliver(app)
    first, second = mailbox.inbox.messages
    assert first["Message-ID"] == second["Message-ID"] == f"<alert-{alert.id}@platform.example>"
    async with app.state.sessionmaker() as session:
        sent = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.sent")))
    assert len(sent) == 1
