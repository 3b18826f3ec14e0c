"""The outbox (servicekit.outbox): written with the change, delivered at least once, retried with
back-off on the injected clock, dead after the retry window, shared between workers on PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit import outbox
from servicekit.clock import FrozenClock
from servicekit.db import create_engine, make_sessionmaker
from servicekit.models import OutboxMessage
from servicekit.outbox import GiveUp, Message, OutboxWorker, Retry, RetryPolicy


@pytest.fixture
async def sessions(kit_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(kit_database, pool_size=4)
    yield make_sessionmaker(engine)
    await engine.dispose()


class Receiver:
    """A handler that records what it is given and fails while told to."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.fail_with: Exception | None = None

    async def __call__(self, message: Message) -> None:
        self.got.append(message)
        if self.fail_with is not None:
            raise self.fail_with


def worker(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, receiver: Receiver, **kw: object
) -> OutboxWorker:
    return OutboxWorker(sessions, {"note.sent": receiver}, clock=clock, rng=random.Random(7), **kw)  # type: ignore[arg-type]


async def write(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, *, commit: bool = True
) -> uuid.UUID:
    async with sessions() as session:
        message = await outbox.enqueue(session, "note.sent", {"note": "n1"}, now=clock.now())
        if commit:
            await session.commit()
        else:
            await session.rollback()
        return message.id


async def status(sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID) -> OutboxMessage:
    async with sessions() as session:
        row = await session.get(OutboxMessage, message_id)
        assert row is not None
        return row


async def test_a_message_is_delivered_only_if_its_change_commits(sessions, clock) -> None:
    receiver = Receiver()
    await write(sessions, clock, commit=False)
    kept = await write(sessions, clock)
    assert await worker(sessions, clock, receiver).run_until_idle() == 1
    assert [m.id for m in receiver.got] == [kept]
    assert receiver.got[0].payload == {"note": "n1"} and receiver.got[0].attempts == 1
    assert (await status(sessions, kept)).status == "delivered"
    # Delivered once: nothing more to do.
    assert await worker(sessions, clock, receiver).run_until_idle() == 0


async def test_a_failure_is_retried_after_backoff_with_the_same_id(sessions, clock) -> None:
    receiver = Receiver()
    receiver.fail_with = RuntimeError("503 from the receiver")
    w = worker(sessions, clock, receiver)
    message_id = await write(sessions, clock)
    assert await w.run_once() == 1
    row = await status(sessions, message_id)
    assert row.status == "pending" and row.last_error == "RuntimeError: 503 from the receiver"
    wait = row.available_at - clock.now()
    assert timedelta(seconds=2.5) <= wait <= timedelta(seconds=5)  # first retry within 10 s
    assert await w.run_once() == 0  # not due yet
    clock.advance(wait)
    receiver.fail_with = None
    assert await w.run_once() == 1
    assert [m.id for m in receiver.got] == [message_id, message_id]
    assert [m.attempts for m in receiver.got] == [1, 2]
    assert (await status(sessions, message_id)).status == "delivered"


async def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    delays = [policy.delay(n, rng).total_seconds() for n in range(1, 16)]
    assert 2.5 <= delays[0] <= 5 and 5 <= delays[1] <= 10 and 10 <= delays[2] <= 20
    assert all(d <= 3600 for d in delays) and delays[-1] >= 1800
    assert len({round(d, 3) for d in delays[-4:]}) == 4  # jittered, not in lockstep


async def test_retries_go_on_for_24_hours_then_the_message_is_dead_until_requeued(sessions, clock) -> None:
    receiver = Receiver()
    receiver.fail_with = RuntimeError("down")
    w = worker(sessions, clock, receiver)
    message_id = await write(sessions, clock)
    start = clock.now()
    while (row := await status(sessions, message_id)).status == "pending":
        clock.set(max(row.available_at, clock.now()))
        assert await w.run_once() == 1
    assert row.status == "dead"
    assert clock.now() - start >= timedelta(hours=24)
    assert clock.now() - start < timedelta(hours=25)
    assert {m.id for m in receiver.got} == {message_id}
    assert len(receiver.got) > 20  # retried all along, not once a day

    # The dead letter is sent again when asked, with the same id and a fresh window.
    receiver.fail_with = None
    async with sessions() as session:
        assert await outbox.requeue(session, message_id, now=clock.now()) is not None
        await session.commit()
    assert await w.run_once() == 1
    assert receiver.got[-1].id == message_id and receiver.got[-1].attempts == 1
    assert (await status(sessions, message_id)).status == "delivered"


async def test_give_up_is_dead_at_once_and_retry_after_is_honoured(sessions, clock) -> None:
    receiver = Receiver()
    w = worker(sessions, clock, receiver)
    receiver.fail_with = GiveUp("the subscription is gone")
    gone = await write(sessions, clock)
    await w.run_once()
    assert (await status(sessions, gone)).status == "dead"

    receiver.fail_with = Retry("busy", after=timedelta(seconds=120))
    later = await write(sessions, clock)
    await w.run_once()
    assert (await status(sessions, later)).available_at == clock.now() + timedelta(seconds=120)


async def test_a_worker_that_dies_holding_a_message_leaves_it_to_the_next_after_the_lease(
    sessions, clock
) -> None:
    message_id = await write(sessions, clock)
    dead = worker(sessions, clock, Receiver(), lease=timedelta(seconds=30))
    assert [m.id for m in await dead.claim()] == [message_id]  # ...and is killed before recording
    receiver = Receiver()
    heir = worker(sessions, clock, receiver, lease=timedelta(seconds=30))
    assert await heir.run_once() == 0  # the lease still holds it
    clock.advance(seconds=30)
    assert await heir.run_once() == 1
    assert [m.id for m in receiver.got] == [message_id] and receiver.got[0].attempts == 2
    assert (await status(sessions, message_id)).status == "delivered"


async def test_a_worker_delivers_only_its_own_topics(sessions, clock) -> None:
    async with sessions() as session:
        other = await outbox.enqueue(session, "alert.email", {}, now=clock.now())
        await session.commit()
    assert await worker(sessions, clock, Receiver()).run_until_idle() == 0
    assert (await status(sessions, other.id)).status == "pending"


async def test_a_commit_that_writes_to_the_outbox_wakes_the_worker(kit_database: str, clock) -> None:
    woken: list[bool] = []
    engine = create_engine(kit_database, pool_size=2)
    sessions = make_sessionmaker(engine)
    sessions.configure(info={outbox.WAKE_KEY: lambda: woken.append(True)})
    try:
        async with sessions() as session:
            await outbox.enqueue(session, "note.sent", {}, now=clock.now())
            await session.rollback()
        async with sessions() as session:
            await session.execute(select(OutboxMessage.id))
            await session.commit()
        assert woken == []  # a rollback, and a commit that wrote nothing, wake no one
        async with sessions() as session:
            await outbox.enqueue(session, "note.sent", {}, now=clock.now())
            await session.commit()
        assert woken == [True]
    finally:
        await engine.dispose()


async def test_workers_on_postgresql_share_the_work_with_skip_locked(
    kit_database: str, sessions, clock
) -> None:
    if make_url(kit_database).get_backend_name() != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's (SQLite's claims take turns)")
    ids = [await write(sessions, clock) for _ in range(6)]
    first = worker(sessions, clock, Receiver(), batch_size=3)
    second_receiver = Receiver()
    second = worker(sessions, clock, second_receiver, batch_size=10)
    # The first worker's claim is in flight (rows locked, not yet committed): the second skips them.
    async with sessions() as holding:
        locked = (
            await holding.scalars(
                select(OutboxMessage.id)
                .order_by(OutboxMessage.available_at, OutboxMessage.id)
                .limit(3)
                .with_for_update(skip_locked=True)
            )
        ).all()
        assert await second.run_once() == 3
        assert {m.id for m in second_receiver.got} == set(ids) - set(locked)
        await holding.rollback()
    assert await first.run_once() == 3
    async with sessions() as session:
        assert await outbox.counts(session) == {"pending": 0, "delivered": 6, "dead": 0}
