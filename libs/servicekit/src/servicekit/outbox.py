"""The outbox: what must reach someone outside (a webhook, an alert e-mail) is written in the same
transaction as the change that causes it, and delivered at least once by a worker.

Writing, inside a service function (it only adds; the request's session commits it with the change,
or rolls it back with the change):

    await outbox.enqueue(session, "webhook.delivery", {"delivery_id": str(d.id)}, now=clock.now())

Delivering: a handler per topic, `async def handle(message: outbox.Message) -> None`. Returning is
success; raising is a failed attempt, retried with exponential back-off and jitter
(`RetryPolicy`; raise `Retry(after=...)` to name the delay, e.g. a `Retry-After`) until the retry
window (`retry_for`, 24 hours by default) is over, then the message is `dead` (the dead letters;
`requeue` sends one again). Raise `GiveUp` for a failure no retry can mend. A service passes its
handlers to `create_service_app(outbox_handlers={topic: lambda app: handler})`, and the app runs
one `OutboxWorker` as a task of the service process (`<PREFIX>OUTBOX_WORKER=false` turns it off,
for a process that only serves requests).

At least once, never lost: the worker claims a batch in a short transaction, setting a lease
(`locked_until`), delivers with no transaction open, and records the outcome in another. A worker
killed in between leaves its lease to run out; the next worker (the same process restarted, or a
sibling replica) claims the message again and delivers it again: receivers de-duplicate by the
message's id, which stays the same across every attempt. On PostgreSQL the claim is
`SELECT ... FOR UPDATE SKIP LOCKED`, so several workers (one per replica of the service) share the
work, each message going to one of them at a time; on SQLite the claim's `BEGIN IMMEDIATE` makes
claims take turns. Time comes from the injected clock (due, lease and retry times), randomness of
the jitter from an injected `random.Random`, so tests move the clock instead of sleeping.

A commit that wrote to the outbox wakes the worker of its own process at once (the session's
`after_commit`); others find the message at their next poll (`<PREFIX>OUTBOX_POLL_SECONDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit.clock import Clock, SystemClock
from servicekit.models import OutboxMessage

log = logging.getLogger("servicekit.outbox")

Status = Literal["pending", "delivered", "dead"]

# Keys in a session's `info`: the waker of this process's worker (set on the sessionmaker by the
# app), and whether this transaction wrote to the outbox.
WAKE_KEY = "servicekit.outbox_wake"
_WROTE_KEY = "servicekit.outbox_wrote"


@dataclass(frozen=True)
class Message:
    """What a handler is given: the message's id (the same at every attempt), topic and payload."""

    id: uuid.UUID
    topic: str
    payload: dict[str, Any]
    attempts: int  # this attempt's number, from 1
    created_at: datetime


Handler = Callable[[Message], Awaitable[None]]


class Retry(Exception):
    """A failed attempt; try again after `after` (else the policy's back-off)."""

    def __init__(self, reason: str, *, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.after = after


class GiveUp(Exception):
    """A failure no retry can mend: the message is dead at once."""


async def enqueue(
    session: AsyncSession,
    topic: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    message_id: uuid.UUID | None = None,
    available_at: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the session's transaction (it commits with the change)."""
    message = OutboxMessage(
        id=message_id or uuid.uuid4(),
        topic=topic,
        payload=dict(payload),
        status="pending",
        created_at=now,
        available_at=available_at or now,
        queued_at=now,
        attempts=0,
    )
    session.add(message)
    session.info[_WROTE_KEY] = True
    return message


async def requeue(session: AsyncSession, message_id: uuid.UUID, *, now: datetime) -> OutboxMessage | None:
    """Send a message again (a dead letter, or a delivered one): pending now, with a fresh retry
    window and its attempts counted from zero. Its id stays the same. None if there is no such message."""
    message = await session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        return None
    message.status = "pending"
    message.available_at = now
    message.queued_at = now
    message.attempts = 0
    message.locked_until = None
    message.locked_by = None
    message.finished_at = None
    message.last_error = None
    session.info[_WROTE_KEY] = True
    return message


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: the n-th failure waits first x factor^(n-1), at most
    `max_delay`, times a random factor in [1 - jitter, 1]; after `retry_for` from when the message
    was queued, the next failure is its last (dead)."""

    first_delay: timedelta = timedelta(seconds=5)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.5
    retry_for: timedelta = timedelta(hours=24)

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        base = min(
            self.max_delay.total_seconds(), self.first_delay.total_seconds() * self.factor ** (failures - 1)
        )
        return timedelta(seconds=base * rng.uniform(1.0 - self.jitter, 1.0))


@dataclass
class OutboxWorker:
    """Claims due messages of its topics, hands each to its topic's handler, records the outcome."""

    # A new session (an async_sessionmaker, or the app's: `lambda: app.state.sessionmaker()`).
    sessionmaker: Callable[[], AsyncSession]
    handlers: dict[str, Handler]
    clock: Clock = field(default_factory=SystemClock)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    lease: timedelta = timedelta(seconds=60)
    # A handler that takes longer is cancelled and counted as a failure (well inside the lease).
    handler_timeout: float = 30.0
    batch_size: int = 20
    poll_interval: float = 1.0
    worker_id: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:12]}")
    rng: random.Random = field(default_factory=random.Random)
    _wake: asyncio.Event | None = field(default=None, init=False, repr=False)

    def wake(self) -> None:
        """Look for work now (called after a commit that wrote to the outbox)."""
        if self._wake is not None:
            self._wake.set()

    async def claim(self) -> list[Message]:
        """Take up to `batch_size` due messages for this worker, for the length of the lease."""
        if not self.handlers:
            return []
        now = self.clock.now()
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.available_at <= now,
                        OutboxMessage.topic.in_(sorted(self.handlers)),
                        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                    )
                    .order_by(OutboxMessage.available_at, OutboxMessage.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            claimed = []
            for row in rows:
                row.locked_until = now + self.lease
                row.locked_by = self.worker_id
                row.attempts += 1
                claimed.append(Message(row.id, row.topic, dict(row.payload), row.attempts, row.created_at))
            await session.commit()
        return claimed

    async def deliver(self, message: Message) -> Status:
        """Run the message's handler (no transaction open meanwhile), then record what happened."""
        [status] = await self._record([(message, await self._attempt(message))])
        return status

    async def _attempt(self, message: Message) -> BaseException | None:
        try:
            async with asyncio.timeout(self.handler_timeout):
                await self.handlers[message.topic](message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a handler is a failed attempt
            return exc
        return None

    async def _record(self, outcomes: list[tuple[Message, BaseException | None]]) -> list[Status]:
        """The outcomes of a batch, in one transaction."""
        now = self.clock.now()
        statuses: list[Status] = []
        async with self.sessionmaker() as session:
            for message, error in outcomes:
                row = await session.get(OutboxMessage, message.id, with_for_update=True)
                if row is None or row.locked_by != self.worker_id or row.status != "pending":
                    # Another worker took it after our lease ran out: its outcome is the one to keep.
                    statuses.append("pending" if row is None else _status(row.status))
                    continue
                self._apply(row, error, now)
                statuses.append(_status(row.status))
            await session.commit()
        return statuses

    def _apply(self, row: OutboxMessage, error: BaseException | None, now: datetime) -> None:
        row.locked_until = None
        row.locked_by = None
        if error is None:
            row.status = "delivered"
            row.finished_at = now
            row.last_error = None
            return
        row.last_error = _describe(error)
        if isinstance(error, GiveUp) or now >= row.queued_at + self.policy.retry_for:
            row.status = "dead"
            row.finished_at = now
            log.warning("outbox message %s (%s) is dead: %s", row.id, row.topic, row.last_error)
            return
        delay = self.policy.delay(row.attempts, self.rng)
        if isinstance(error, Retry) and error.after is not None:
            delay = min(max(error.after, timedelta(0)), self.policy.max_delay)
        row.available_at = now + delay

    async def run_once(self) -> int:
        """Claim one batch, deliver its messages concurrently, record their outcomes together.
        Returns how many were tried."""
        messages = await self.claim()
        if messages:
            errors = await asyncio.gather(*(self._attempt(m) for m in messages))
            await self._record(list(zip(messages, errors, strict=True)))
        return len(messages)

    async def run_until_idle(self, max_batches: int = 1000) -> int:
        """Deliver batches until nothing is due (tests, and draining)."""
        total = 0
        for _ in range(max_batches):
            done = await self.run_once()
            if done == 0:
                break
            total += done
        return total

    async def stop(self) -> None:
        """Give back the leases this worker holds (after its task is cancelled)."""
        with contextlib.suppress(Exception):
            async with self.sessionmaker() as session:
                await release_leases(session, self.worker_id)
                await session.commit()

    async def run_forever(self) -> None:
        """Deliver until cancelled: at once after a commit that wrote to the outbox, else every
        `poll_interval` seconds. Errors (the database away) are logged and the loop goes on."""
        self._wake = asyncio.Event()
        while True:
            try:
                if await self.run_once() >= self.batch_size:
                    continue  # there may be more due now
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep the worker alive; try again at the next poll
                log.warning("outbox worker: %s", _describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()


def _status(value: str) -> Status:
    return "delivered" if value == "delivered" else "dead" if value == "dead" else "pending"


def _describe(error: BaseException) -> str:
    text = str(error)
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:500]


async def counts(session: AsyncSession, topics: Iterable[str] | None = None) -> dict[str, int]:
    """How many messages are in each status (for tests and operations)."""
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if topics is not None:
        stmt = stmt.where(OutboxMessage.topic.in_(list(topics)))
    result: dict[str, int] = {"pending": 0, "delivered": 0, "dead": 0}
    for status, count in await session.execute(stmt):
        result[status] = count
    return result


async def release_leases(session: AsyncSession, worker_id: str) -> None:
    """Give back what a worker holds (its clean shutdown), so others need not wait out the lease."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.locked_by == worker_id, OutboxMessage.status == "pending")
        .values(locked_until=None, locked_by=None)
    )


# After a commit that wrote to the outbox, wake this process's worker (its waker is in the session's
# info, put there by the app's sessionmaker); a rollback forgets that anything was written.
def _after_commit(session: Session) -> None:
    if session.info.pop(_WROTE_KEY, False):
        wake = session.info.get(WAKE_KEY)
        if wake is not None:
            wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(_WROTE_KEY, None)


def install_session_events() -> None:
    from sqlalchemy import event

    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


install_session_events()
