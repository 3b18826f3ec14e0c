"""Staff alerts: raised beside the change that causes them, e-mailed at least once, shown in the console.

E-mail is not a secure channel (the policy: "never use email to transfer staff or pupil personal
data"), so an alert's e-mail names no child and says nothing of the record: only that there is
something to open, and a link to it in the console (on `PLATFORM_PUBLIC_BASE_URL`). Whoever opens it
signs in, and the service shows it only to whoever may see its record.

- `raise_alert(session, kind=, school_id=, recipients=, target_type=, target_id=, period_key=, now=)`
  adds one `StaffAlert` row per recipient in the caller's transaction: the alert commits with the
  change, or not at all. The caller picks the recipients by the same rule as its reads (incidents:
  `people_who_may_see`). One alert per (person, kind, period): raising it again is a no-op.
- `raise_alert` also writes one outbox message per alert (`servicekit.outbox`, topic `alert.email`,
  the message id is the alert's id), so the e-mail is delivered at least once, across restarts.
- `AlertSender` is that topic's handler: it looks the recipients' addresses and preferences up in identity
  (`ContactDirectory`: addresses live in identity only), checks each alert's record is still visible
  to its recipient, holds it through the person's quiet hours, gathers it into the person's daily
  digest if they chose one, e-mails it (`servicekit.mail`), and audits each one sent (`alert.sent`:
  who, what kind, when; never the content). A relay that is down is
  a failed attempt, retried by the outbox with back-off; the e-mail's Message-ID is the alert's.
- `Scheduler.tick()` runs periodic jobs (end of the school day, weekly) once per school and period,
  whatever the number of workers: the run is claimed by a `ScheduledRun` row in the job's own
  transaction, keyed by the period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final, Literal, Protocol
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import audit
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.clock import Clock, SystemClock
from servicekit.db import SessionDep
from servicekit.errors import Forbidden, NotFound
from servicekit.mail import MailRejected, MailUnavailable, SmtpSettings, send_mail
from servicekit.models import ReplicaPerson, ReplicaSchool, ScheduledRun, StaffAlert
from servicekit.outbox import GiveUp, Message, Retry, enqueue
from servicekit.urls import public_link

log = logging.getLogger("servicekit.alerts")

AlertKind = Literal[
    "incident.new",  # a new concern: the safeguarding lead(s)
    "incident.allegation",  # an allegation against staff: the head only
    "incident.critical",  # a critical incident: the head too
    "phones.still_held",  # phones still held at the end of the school day: the office
    "image_uses.not_deleted",  # image uses not confirmed deleted by the end of the day: their owner
    "image_uses.not_deleted.escalated",  # ... and still not, an hour later: the head
    "consents.expiring",  # consents ending in the next 30 days: the office, weekly
]

# What the e-mail may say of an alert: never the record, never a name, never an incident's kind.
# Every incident alert reads the same, so the subject line tells nothing of the concern.
LABELS: Final[dict[str, str]] = {
    "incident.new": "a safeguarding record for you to open",
    "incident.allegation": "a safeguarding record for you to open",
    "incident.critical": "a safeguarding record for you to open",
    "phones.still_held": "pupils' phones still held at the end of the school day",
    "image_uses.not_deleted": "image uses on your device to confirm as deleted",
    "image_uses.not_deleted.escalated": "image uses on a staff device not confirmed as deleted",
    "consents.expiring": "photo consents ending in the next 30 days",
}

SENDER_ACTOR: Final = "system:alerts"
ALERT_TOPIC: Final = "alert.email"
CONTACTS_SCOPE: Final = "alerts:contacts"
CONTACTS_PATH: Final = "/internal/alert-contacts"


# -- raising ------------------------------------------------------------------------------------


async def raise_alert(
    session: AsyncSession,
    *,
    kind: AlertKind,
    school_id: uuid.UUID,
    recipients: Iterable[uuid.UUID],
    now: datetime,
    target_type: str | None = None,
    target_id: object | None = None,
    period_key: str | None = None,
) -> list[StaffAlert]:
    """One alert per recipient, in the caller's transaction; an alert already raised is not raised again."""
    key = period_key or f"{target_type}:{target_id}"
    wanted = set(recipients)
    if not wanted:
        return []
    existing = set(
        await session.scalars(
            select(StaffAlert.person_id).where(
                StaffAlert.person_id.in_(wanted), StaffAlert.kind == kind, StaffAlert.period_key == key
            )
        )
    )
    alerts = [
        StaffAlert(
            id=uuid.uuid4(),
            school_id=school_id,
            person_id=person_id,
            kind=kind,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            period_key=key,
            created_at=now,
            due_at=now,
            status="pending",
            is_digest=False,
            attempts=0,
        )
        for person_id in sorted(wanted - existing)
    ]
    session.add_all(alerts)
    for alert in alerts:
        await enqueue(session, ALERT_TOPIC, {"alert_id": str(alert.id)}, now=now, message_id=alert.id)
    await session.flush()
    return alerts


async def staff_with_role(session: AsyncSession, school_id: uuid.UUID, *roles: str) -> set[uuid.UUID]:
    """On-roll staff of the school holding any of these roles (from the people replica)."""
    rows = await session.execute(
        select(ReplicaPerson.id, ReplicaPerson.roles).where(
            ReplicaPerson.school_id == school_id,
            ReplicaPerson.kind == "staff",
            ReplicaPerson.is_on_roll.is_(True),
        )
    )
    return {person_id for person_id, held in rows if set(held or ()) & set(roles)}


# -- contacts (identity) ------------------------------------------------------------------------


class Contact(BaseModel):
    """A person's address and alert preferences, as identity holds them."""

    model_config = ConfigDict(extra="ignore")

    person_id: uuid.UUID
    email: str | None = None
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    digest: bool = False
    timezone: str = "Europe/London"

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet hours `now` falls in, or None when `now` is not quiet."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None or end is None or start == end:
            return None
        local = now.astimezone(self._zone())
        t = local.time()
        quiet = start <= t < end if start < end else (t >= start or t < end)
        if not quiet:
            return None
        return _next_local(local, end)

    def next_digest(self, now: datetime, at: time) -> datetime:
        """The next digest time (at or after `now`), in the person's zone."""
        local = now.astimezone(self._zone())
        if local.time() == at:
            return now
        return _next_local(local, at)


def _next_local(local: datetime, at: time) -> datetime:
    candidate = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=local.tzinfo)
    return candidate.astimezone(ZoneInfo("UTC"))


class ContactDirectory(Protocol):
    async def contacts(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Contact]: ...


class ContactsUnavailable(Exception):
    """Identity could not say: the alerts stay pending and are tried again."""


class IdentityContactDirectory:
    """Addresses and preferences from identity's internal lookup (scope `alerts:contacts`).

    Client credentials are the service's feed client's; the lookup is never routed by the gateway."""

    def __init__(
        self,
        identity_url: str,
        client_id: str,
        client_secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.identity_url = identity_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.transport = transport

    async def contacts(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        try:
            async with httpx.AsyncClient(
                base_url=self.identity_url, transport=self.transport, timeout=10.0
            ) as client:
                token = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": CONTACTS_SCOPE},
                    auth=(self.client_id, self.client_secret),
                )
                token.raise_for_status()
                access = token.json()["access_token"]
                found = await client.post(
                    CONTACTS_PATH,
                    json={"person_ids": [str(p) for p in person_ids]},
                    headers={"Authorization": f"Bearer {access}"},
                )
                found.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise ContactsUnavailable(type(exc).__name__) from exc
        return {c.person_id: c for c in (Contact.model_validate(i) for i in found.json()["items"])}


class StaticContactDirectory:
    """Contacts held in memory (development without identity, and tests)."""

    def __init__(self, contacts: Iterable[Contact] = ()) -> None:
        self.by_person = {c.person_id: c for c in contacts}

    def set(self, contact: Contact) -> None:
        self.by_person[contact.person_id] = contact

    async def contacts(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        return {p: self.by_person[p] for p in person_ids if p in self.by_person}


# -- sending ------------------------------------------------------------------------------------

# Whether a recipient may still see the record an alert points at (by target_type): incidents
# apply the read rule again at delivery, so a person who lost the right since never hears of it.
VisibilityCheck = Callable[[AsyncSession, StaffAlert], Awaitable[bool]]


def alert_link(base_url: str, alert: StaffAlert) -> str:
    """The console page of an alert: an opaque id, nothing else (the console shows it after sign-in)."""
    return public_link(base_url, f"/alerts/{alert.id}")


def _single_text(alert: StaffAlert, link: str) -> tuple[str, str]:
    subject = "E-safety platform: something for you to open"
    text = (
        f"There is {LABELS[alert.kind]} in the e-safety console.\n\n"
        f"Open it here (you will be asked to sign in):\n{link}\n\n"
        "This e-mail says nothing more on purpose: e-mail is not a secure channel.\n"
    )
    return subject, text


def _digest_text(alerts: Sequence[StaffAlert], base_url: str) -> tuple[str, str]:
    subject = "E-safety platform: your alerts digest"
    lines = [f"- {alert_link(base_url, a)}" for a in alerts]
    text = (
        f"You have {len(alerts)} new alert(s) in the e-safety console.\n\n"
        "Open them here (you will be asked to sign in):\n" + "\n".join(lines) + "\n\n"
        "This e-mail says nothing more on purpose: e-mail is not a secure channel.\n"
    )
    return subject, text


@dataclass
class AlertSender:
    """The outbox handler of topic `alert.email`: one message per alert, delivered at least once.

    Returning is done (sent, or nothing to send); `outbox.Retry` puts it off (quiet hours, the
    digest's time, identity or the relay out of reach); `outbox.GiveUp` when the relay refused it."""

    sessionmaker: Callable[[], AsyncSession]
    smtp: SmtpSettings
    directory: ContactDirectory
    public_base_url: str
    clock: Clock = field(default_factory=SystemClock)
    checks: dict[str, VisibilityCheck] = field(default_factory=dict)
    digest_at: time = time(7, 30)

    async def __call__(self, message: Message) -> None:
        alert_id = uuid.UUID(str(message.payload["alert_id"]))
        now = self.clock.now()
        async with self.sessionmaker() as session:
            alert = await session.get(StaffAlert, alert_id, with_for_update=True)
            if alert is None or alert.status != "pending":
                return  # sent already (in a digest, or by an earlier attempt), or withdrawn
            check = self.checks.get(alert.target_type or "")
            if check is not None and not await check(session, alert):
                alert.status = "withdrawn"
                await session.commit()
                return
            if not self.smtp.enabled:
                alert.status = "in_app"  # mail is off (no PLATFORM_SMTP_HOST): the console shows it
                await session.commit()
                return
            try:
                found = await self.directory.contacts([alert.person_id])
            except ContactsUnavailable as exc:
                raise Retry(f"contacts unavailable: {exc}") from exc
            contact = found.get(alert.person_id)
            if contact is None or not contact.email:
                alert.status = "in_app"  # no address: the console shows it, nothing is e-mailed
                await session.commit()
                return
            quiet_end = contact.quiet_until(now)
            if quiet_end is not None:
                alert.due_at = quiet_end
                await session.commit()
                raise Retry("quiet hours", after=quiet_end - now)
            if contact.digest and not alert.is_digest:
                alert.is_digest = True
                alert.due_at = contact.next_digest(now, self.digest_at)
            if alert.is_digest and alert.due_at > now:
                await session.commit()
                raise Retry("waiting for the digest", after=alert.due_at - now)
            batch = [alert]
            if alert.is_digest:
                # Everything of this person's that waits for a digest now due goes in this one.
                others = await session.scalars(
                    select(StaffAlert)
                    .where(
                        StaffAlert.person_id == alert.person_id,
                        StaffAlert.status == "pending",
                        StaffAlert.is_digest.is_(True),
                        StaffAlert.due_at <= now,
                        StaffAlert.id != alert.id,
                    )
                    .order_by(StaffAlert.created_at, StaffAlert.id)
                )
                batch += [a for a in others if check is None or await check(session, a)]
            if alert.is_digest:
                subject, text = _digest_text(batch, self.public_base_url)
            else:
                subject, text = _single_text(alert, alert_link(self.public_base_url, alert))
            domain = self.smtp.sender.rpartition("@")[2]
            try:
                await send_mail(
                    self.smtp,
                    to=contact.email,
                    subject=subject,
                    text=text,
                    # The same at every attempt: a resend after a crash is recognised as such.
                    message_id=f"<alert-{alert.id}@{domain}>",
                )
            except MailUnavailable as exc:
                raise Retry(type(exc).__name__) from exc
            except (MailRejected, ValueError) as exc:
                alert.status = "failed"
                await audit.record(
                    session,
                    actor=SENDER_ACTOR,
                    action="alert.refused",
                    target_type="person",
                    target_id=alert.person_id,
                    school_id=alert.school_id,
                    detail={"alert_id": str(alert.id), "kind": alert.kind, "channel": "email"},
                    at=now,
                )
                await session.commit()
                raise GiveUp(type(exc).__name__) from exc
            for sent in batch:
                sent.status = "sent"
                sent.sent_at = now
                await audit.record(
                    session,
                    actor=SENDER_ACTOR,
                    action="alert.sent",
                    target_type="person",
                    target_id=sent.person_id,
                    school_id=sent.school_id,
                    detail={
                        "alert_id": str(sent.id),
                        "kind": sent.kind,
                        "channel": "email",
                        "digest": sent.is_digest,
                    },
                    at=now,
                )
            await session.commit()


# -- the school day and the scheduler ------------------------------------------------------------


class SchoolDay(BaseModel):
    """When a school's day ends (per school, with a default), in the schools' time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ends_at: time = time(15, 30)
    by_school: dict[uuid.UUID, time] = Field(default_factory=dict)
    timezone: str = "Europe/London"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SchoolDay:
        """`PLATFORM_SCHOOL_DAY_ENDS_AT` (`15:30`), `PLATFORM_SCHOOL_DAY_ENDS_AT_BY_SCHOOL`
        (`<school id>=16:00,<school id>=15:15`), `PLATFORM_SCHOOL_TIMEZONE` (`Europe/London`)."""
        import os

        env = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        if "PLATFORM_SCHOOL_DAY_ENDS_AT" in env:
            values["ends_at"] = env["PLATFORM_SCHOOL_DAY_ENDS_AT"]
        if env.get("PLATFORM_SCHOOL_DAY_ENDS_AT_BY_SCHOOL"):
            pairs = (p.split("=", 1) for p in env["PLATFORM_SCHOOL_DAY_ENDS_AT_BY_SCHOOL"].split(","))
            values["by_school"] = {k.strip(): v.strip() for k, v in pairs}
        if "PLATFORM_SCHOOL_TIMEZONE" in env:
            values["timezone"] = env["PLATFORM_SCHOOL_TIMEZONE"]
        return cls.model_validate(values)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def end_of(self, school_id: uuid.UUID, day: date) -> datetime:
        """The moment the school's day `day` ends, as an aware datetime."""
        at = self.by_school.get(school_id, self.ends_at)
        return datetime.combine(day, at, tzinfo=self.zone())

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone()).date()


@dataclass(frozen=True)
class Period:
    key: str  # the period's key: the day (2026-12-02) or the ISO week (2026-W49)
    start: datetime  # when it is due


JobRun = Callable[[AsyncSession, uuid.UUID, Period, datetime], Awaitable[None]]
Due = Callable[[SchoolDay, uuid.UUID, datetime], Period | None]


def at_end_of_day(after: timedelta = timedelta(0)) -> Due:
    """Due once a school day (weekdays), from the end of the day (plus `after`)."""

    def due(day: SchoolDay, school_id: uuid.UUID, now: datetime) -> Period | None:
        today = day.today(now)
        if today.weekday() >= 5:
            return None
        start = day.end_of(school_id, today) + after
        return Period(today.isoformat(), start) if now >= start else None

    return due


def weekly(weekday: int = 0, at: time = time(7, 0)) -> Due:
    """Due once an ISO week, from `weekday` (0: Monday) at `at`, school time."""

    def due(day: SchoolDay, school_id: uuid.UUID, now: datetime) -> Period | None:
        today = day.today(now)
        year, week, _ = today.isocalendar()
        first = date.fromisocalendar(year, week, weekday + 1)
        start = datetime.combine(first, at, tzinfo=day.zone())
        return Period(f"{year}-W{week:02d}", start) if now >= start else None

    return due


@dataclass(frozen=True)
class Job:
    name: str
    due: Due
    run: JobRun


async def claim(session: AsyncSession, *, job: str, school_id: uuid.UUID, period: str, now: datetime) -> bool:
    """Take the job's period for this school, in the session's transaction: False if another has.

    Two workers: the second one's insert waits for the first's commit, then conflicts."""
    try:
        async with session.begin_nested():
            session.add(ScheduledRun(job=job, school_id=school_id, period_key=period, ran_at=now))
    except IntegrityError:
        return False
    return True


@dataclass
class Scheduler:
    # A new session (the app's: `lambda: app.state.sessionmaker()`, so tests can swap it).
    sessionmaker: Callable[[], AsyncSession]
    jobs: Sequence[Job]
    school_day: SchoolDay = field(default_factory=SchoolDay)
    clock: Clock = field(default_factory=SystemClock)

    async def tick(self) -> list[tuple[str, uuid.UUID, str]]:
        """Run every job that is due and has not run for its period; returns what ran."""
        now = self.clock.now()
        async with self.sessionmaker() as session:
            schools = list(await session.scalars(select(ReplicaSchool.id).order_by(ReplicaSchool.id)))
        ran: list[tuple[str, uuid.UUID, str]] = []
        for school_id in schools:
            for job in self.jobs:
                period = job.due(self.school_day, school_id, now)
                if period is None:
                    continue
                async with self.sessionmaker() as session:
                    if not await claim(
                        session, job=job.name, school_id=school_id, period=period.key, now=now
                    ):
                        await session.rollback()
                        continue
                    await job.run(session, school_id, period, now)
                    await session.commit()
                ran.append((job.name, school_id, period.key))
        return ran


async def run_scheduler(scheduler: Scheduler, *, interval: float = 30.0) -> None:
    """The background loop a service starts: the scheduler's tick every `interval` seconds."""
    while True:
        try:
            await scheduler.tick()
        except Exception:  # a failed round is logged and tried again next time
            log.exception("alert scheduler round failed")
        await asyncio.sleep(interval)


async def start_scheduler(app: Any) -> None:
    """An on_startup hook: runs `app.state.scheduler` every `<PREFIX>ALERT_SCHEDULER_SECONDS` (0: off)."""
    interval = float(app.state.settings.alert_scheduler_seconds)
    scheduler = getattr(app.state, "scheduler", None)
    if scheduler is not None and interval > 0:
        app.state.alert_scheduler = asyncio.create_task(run_scheduler(scheduler, interval=interval))


async def stop_scheduler(app: Any) -> None:
    task = getattr(app.state, "alert_scheduler", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def settings_prefix(settings: Any) -> str:
    return str(settings.model_config.get("env_prefix", ""))


def alert_sender(app: Any, checks: dict[str, VisibilityCheck] | None = None) -> AlertSender:
    """The app's alert sender: SMTP from `PLATFORM_SMTP_*` / `<PREFIX>SMTP_*`, addresses from identity
    with the service's feed client. Kept on `app.state.alert_sender` (tests point it elsewhere)."""
    settings = app.state.settings
    sender = AlertSender(
        sessionmaker=lambda: app.state.sessionmaker(),
        smtp=SmtpSettings.from_env(settings_prefix(settings)),
        directory=IdentityContactDirectory(
            settings.identity_url, settings.feed_client_id, settings.feed_client_secret.get_secret_value()
        ),
        public_base_url=settings.public_base_url,
        clock=app.state.clock,
        checks=dict(checks or {}),
    )
    app.state.alert_sender = sender
    return sender


AlertHandler = Callable[[Message], Awaitable[None]]


def alerts_handler(checks: dict[str, VisibilityCheck] | None = None) -> Callable[[Any], AlertHandler]:
    """For `create_service_app(outbox_handlers={ALERT_TOPIC: alerts_handler(checks)})`."""

    def make(app: Any) -> AlertHandler:
        return alert_sender(app, checks)

    return make


def alert_scheduler(app: Any, jobs: Sequence[Job]) -> Scheduler:
    """The app's scheduler (`app.state.alert_scheduler_jobs`), on the app's clock and sessions; the
    school day from `PLATFORM_SCHOOL_DAY_*` (see `SchoolDay.from_env`)."""
    scheduler = Scheduler(
        sessionmaker=lambda: app.state.sessionmaker(),
        jobs=jobs,
        school_day=SchoolDay.from_env(),
        clock=app.state.clock,
    )
    app.state.scheduler = scheduler
    return scheduler


# -- in the console: the signed-in person's own alerts -------------------------------------------


class AlertRead(BaseModel):
    """An alert as its recipient sees it in the console. `target_id` is the record to open, given
    only while the recipient may still see it (else the alert says it was withdrawn)."""

    id: uuid.UUID
    kind: str
    label: str
    status: str
    target_type: str | None
    target_id: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None

    @classmethod
    def of(cls, alert: StaffAlert, *, visible: bool) -> AlertRead:
        return cls(
            id=alert.id,
            kind=alert.kind,
            label=LABELS.get(alert.kind, "an alert"),
            status=alert.status if visible else "withdrawn",
            target_type=alert.target_type,
            target_id=alert.target_id if visible else None,
            created_at=alert.created_at,
            sent_at=alert.sent_at,
            read_at=alert.read_at,
        )


class AlertPage(BaseModel):
    items: list[AlertRead]


class NotAPerson(Forbidden):
    slug = "not-a-person"


class AlertNotFound(NotFound):
    slug = "alert-not-found"


def _recipient(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    if principal.is_client or principal.person_id is None or principal.school_id is None:
        raise NotAPerson("Alerts are a member of staff's own.")
    return principal.person_id, principal.school_id


async def own_alerts(
    session: AsyncSession,
    principal: Principal,
    checks: dict[str, VisibilityCheck],
    *,
    limit: int,
    unread: bool = False,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[AlertRead]:
    """The caller's newest alerts, each as far as the caller may still see its record; only the
    unread ones with `unread`, only those of one kind of record or one record with `target_*`."""
    person_id, school_id = _recipient(principal)
    stmt = select(StaffAlert).where(StaffAlert.person_id == person_id, StaffAlert.school_id == school_id)
    if unread:
        stmt = stmt.where(StaffAlert.read_at.is_(None))
    if target_type is not None:
        stmt = stmt.where(StaffAlert.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(StaffAlert.target_id == target_id)
    rows = await session.scalars(
        stmt.order_by(StaffAlert.created_at.desc(), StaffAlert.id.desc()).limit(limit)
    )
    out = []
    for alert in rows:
        check = checks.get(alert.target_type or "")
        visible = alert.status != "withdrawn" and (check is None or await check(session, alert))
        out.append(AlertRead.of(alert, visible=visible))
    return out


async def mark_read(
    session: AsyncSession,
    principal: Principal,
    alert_id: uuid.UUID,
    checks: dict[str, VisibilityCheck],
    *,
    now: datetime,
) -> AlertRead:
    """Mark one of the caller's alerts read (another's is 404: it is not theirs to know of)."""
    person_id, school_id = _recipient(principal)
    alert = await session.get(StaffAlert, alert_id)
    if alert is None or alert.person_id != person_id or alert.school_id != school_id:
        raise AlertNotFound("No alert of yours with this id.")
    if alert.read_at is None:
        alert.read_at = now
        await session.flush()
    check = checks.get(alert.target_type or "")
    visible = alert.status != "withdrawn" and (check is None or await check(session, alert))
    return AlertRead.of(alert, visible=visible)


def alerts_router(prefix: str, checks: dict[str, VisibilityCheck] | None = None) -> APIRouter:
    """`GET <prefix>/alerts/mine` (`?unread=true&target_type=&target_id=`) and
    `POST <prefix>/alerts/{alert_id}/read`: the signed-in member of staff's own alerts of this
    service (the console merges the services' lists)."""
    rules = dict(checks or {})
    router = APIRouter(prefix=f"{prefix}/alerts", tags=["alerts"])

    @router.get("/mine", response_model=AlertPage)
    async def list_own_alerts(
        session: SessionDep,
        principal: Annotated[Principal, Scoped()],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        unread: Annotated[bool, Query(description="Only the alerts not yet read.")] = False,
        target_type: Annotated[str | None, Query(max_length=40)] = None,
        target_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> AlertPage:
        """The caller's newest alerts (a kind, when, and the record to open while they may see it).

        `unread=true`: only those not yet read; `target_type` / `target_id`: only those of that kind
        of record, or of that record (the console marks a concern unread, and read once opened)."""
        items = await own_alerts(
            session,
            principal,
            rules,
            limit=limit,
            unread=unread,
            target_type=target_type,
            target_id=target_id,
        )
        return AlertPage(items=items)

    @router.post("/{alert_id}/read", response_model=AlertRead)
    async def read_own_alert(
        alert_id: uuid.UUID,
        session: SessionDep,
        principal: Annotated[Principal, Scoped()],
        clock: ClockDep,
    ) -> AlertRead:
        """Mark one of the caller's alerts read."""
        return await mark_read(session, principal, alert_id, rules, now=clock.now())

    return router
