"""The sign-in throttle's two stores (the database, Redis) keep the same rules, on a frozen clock:
the attempt past the limit is refused and starts a wait that doubles up to the cap, a refused
attempt counts nothing, a success clears or gives back, and a quiet spell forgets the strikes.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from identity.security.throttle import Guard, Throttle
from servicekit.clock import FrozenClock
from servicekit.testing import rollback_sessions


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.fixture(params=["database", "redis"])
async def store(
    request: pytest.FixtureRequest, database_for, clock: FrozenClock
) -> AsyncIterator[tuple[Throttle, AsyncSession]]:
    if request.param == "redis" and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    url = "redis://127.0.0.1:6379/0" if request.param == "redis" else ""
    throttle = Throttle(clock, redis_url=url, redis_prefix=f"test:throttle:{uuid.uuid4().hex}:")
    async with rollback_sessions(database_for("identity")) as sessionmaker, sessionmaker() as session:
        yield throttle, session
    await throttle.close()


async def test_the_attempt_past_the_limit_waits_and_the_wait_doubles(
    store: tuple[Throttle, AsyncSession], clock: FrozenClock
) -> None:
    throttle, session = store
    guard = [Guard(f"account:{uuid.uuid4().hex}", 3)]
    waits = []
    for _round in range(4):
        assert [(await throttle.reserve(session, guard)).allowed for _ in range(3)] == [True] * 3
        refused = await throttle.reserve(session, guard)
        assert refused.started_block and not refused.allowed
        again = await throttle.reserve(session, guard)  # refused while waiting: no new back-off
        assert not again.allowed and not again.started_block and again.wait == refused.wait
        waits.append(refused.wait)
        clock.advance(seconds=refused.wait)
    assert waits == [300, 600, 900, 900]
    # A quiet spell as long as window + cap forgets the strikes.
    clock.advance(seconds=1201)
    for _ in range(4):
        last = await throttle.reserve(session, guard)
    assert last.wait == 300


async def test_a_refusal_counts_nothing_and_a_success_clears_or_gives_back(
    store: tuple[Throttle, AsyncSession], clock: FrozenClock
) -> None:
    throttle, session = store
    account, flood = f"account:{uuid.uuid4().hex}", f"source:{uuid.uuid4().hex}"
    guards = [Guard(account, 2), Guard(flood, 3)]
    assert (await throttle.reserve(session, guards)).attempts == {account: 1, flood: 1}
    await throttle.succeeded(session, clear=[account], release=[flood])
    assert (await throttle.reserve(session, guards)).attempts == {account: 1, flood: 1}
    assert (await throttle.reserve(session, guards)).attempts == {account: 2, flood: 2}
    # The account's third is refused; the flood guard's count does not move for it.
    assert not (await throttle.reserve(session, guards)).allowed
    assert (await throttle.reserve(session, [Guard(flood, 3)])).attempts == {flood: 3}
    clock.advance(minutes=5)
    assert (await throttle.reserve(session, guards)).attempts == {account: 1, flood: 1}
