"""servicekit's people follower: applies identity's feed into the replica tables, keeps its cursor
with the data (a restart resumes where it was), and two pulls at once never conflict.

Identity's side of the feed is tested against the real identity service (tests/identity/test_changes.py
and every through-the-gateway test); here a small stand-in serves pages so the follower's own
behaviour can be pinned down."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from servicekit.db import KitBase, make_sessionmaker, sync_url
from servicekit.db import create_engine as create_async_engine
from servicekit.models import FollowerState, ReplicaAccount, ReplicaPerson
from servicekit.replica import FeedHead, FeedHeadUnavailable, NotBeforeIndex, PeopleFollower
from servicekit.testing import drop_test_database, fresh_database_url

SCHOOL = str(uuid.uuid4())


def feed(items: list[dict]) -> httpx.MockTransport:
    """Identity's feed in two pages, and its token endpoint."""
    return httpx.MockTransport(feed_handler(items))


def feed_handler(items: list[dict]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 600, "token_type": "Bearer"})
        cursor = request.url.params.get("cursor")
        start = int(cursor) if cursor else 0
        page = items[start : start + 2]
        end = start + len(page)
        return httpx.Response(
            200, json={"items": page, "next_cursor": str(end), "has_more": end < len(items)}
        )

    return handler


def person(seq: int, given: str, on_roll: bool = True, person_id: str | None = None) -> dict:
    return {
        "seq": seq,
        "kind": "person",
        "id": person_id or str(uuid.uuid4()),
        "data": {
            "school_id": SCHOOL,
            "kind": "pupil",
            "given_name": given,
            "family_name": "Test",
            "year_group": "3",
            "is_on_roll": on_roll,
            "roles": [],
        },
    }


async def test_follower_applies_resumes_and_never_conflicts(tmp_path: Path) -> None:
    url = fresh_database_url("replica", tmp_path)
    engine = create_engine(sync_url(url))
    KitBase.metadata.create_all(engine)
    engine.dispose()
    db = create_async_engine(url, pool_size=4)
    sessions = make_sessionmaker(db)
    try:
        ada = person(1, "Ada")
        account = {
            "seq": 3,
            "kind": "account",
            "id": str(uuid.uuid4()),
            "data": {
                "person_id": ada["id"],
                "not_before": datetime(2026, 9, 1, tzinfo=UTC).isoformat(),
                "is_active": True,
            },
        }
        items = [ada, person(2, "Ben"), account]
        index = NotBeforeIndex()
        follower = PeopleFollower(
            sessions,
            identity_url="http://identity",
            client_id="c",
            client_secret="s",
            transport=feed(items),
            not_before=index,
        )
        # Two pulls at once (the background loop and an operator's sync) both succeed.
        applied = await asyncio.gather(follower.sync_once(), follower.sync_once())
        assert sorted(applied) == [0, 3]
        async with sessions() as session:
            names = sorted((await session.scalars(select(ReplicaPerson.given_name))).all())
            assert names == ["Ada", "Ben"]
            state = await session.get(FollowerState, "identity-people")
            assert state is not None
            assert state.cursor == "3"
            assert (await session.scalar(select(ReplicaAccount.person_id))) == uuid.UUID(ada["id"])
        assert index(str(account["id"])) == datetime(2026, 9, 1, tzinfo=UTC)

        # A restarted follower (a new process) resumes from the stored cursor: only the change after it.
        items.append(person(4, "Ada", on_roll=False, person_id=ada["id"]))
        restarted = PeopleFollower(
            sessions, identity_url="http://identity", client_id="c", client_secret="s", transport=feed(items)
        )
        assert await restarted.sync_once() == 1
        async with sessions() as session:
            left = await session.get(ReplicaPerson, uuid.UUID(ada["id"]))
            assert left is not None
            assert left.is_on_roll is False
    finally:
        await db.dispose()
        drop_test_database(url)


def test_feed_stand_in_pages_like_identity() -> None:
    transport = feed([person(1, "A"), person(2, "B"), person(3, "C")])
    with httpx.Client(transport=transport, base_url="http://identity") as client:
        first = client.get("/v1/identity/changes").json()
        assert (len(first["items"]), first["has_more"]) == (2, True)
        rest = client.get("/v1/identity/changes", params={"cursor": first["next_cursor"]}).json()
        assert (len(rest["items"]), rest["has_more"]) == (1, False)
        assert json.loads(json.dumps(rest))["next_cursor"] == "3"


class CountingFeed:
    """Identity's feed (pages of two) that counts its page requests, or is out of reach."""

    def __init__(self, items: list[dict], *, down: bool = False) -> None:
        self.items = items
        self.down = down
        self.pages = 0
        self.inner = feed_handler(items)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("identity is down", request=request)
        if request.url.path != "/oauth/token":
            self.pages += 1
        return self.inner(request)


async def with_follower(
    tmp_path: Path, stand_in: CountingFeed, test: Callable[[PeopleFollower], Awaitable[None]], **options: Any
) -> None:
    url = fresh_database_url("catch-up", tmp_path)
    engine = create_engine(sync_url(url))
    KitBase.metadata.create_all(engine)
    engine.dispose()
    db = create_async_engine(url, pool_size=4)
    try:
        follower = PeopleFollower(
            make_sessionmaker(db),
            identity_url="http://identity",
            client_id="c",
            client_secret="s",
            transport=httpx.MockTransport(stand_in.handler),
            **options,
        )
        await test(follower)
    finally:
        await db.dispose()
        drop_test_database(url)


async def test_a_burst_of_misses_shares_one_pull(tmp_path: Path) -> None:
    stand_in = CountingFeed([person(1, "Ada")])

    async def test(follower: PeopleFollower) -> None:
        assert await asyncio.gather(*(follower.catch_up() for _ in range(20))) == [True] * 20
        assert stand_in.pages == 1

    await with_follower(tmp_path, stand_in, test, catch_up_min_interval=0.0)


async def test_a_miss_right_after_a_pull_pulls_no_more(tmp_path: Path) -> None:
    """Random ids cannot make a service hammer identity: pulls are spaced by the minimum interval,
    and a miss that could only be confirmed by a pull after its deadline is not confirmed."""
    stand_in = CountingFeed([person(1, "Ada")])

    async def test(follower: PeopleFollower) -> None:
        assert await follower.catch_up() is True
        assert [await follower.catch_up() for _ in range(50)] == [False] * 50
        assert stand_in.pages == 1

    await with_follower(tmp_path, stand_in, test, catch_up_min_interval=60.0)


async def test_a_catch_up_is_bounded_in_pages(tmp_path: Path) -> None:
    stand_in = CountingFeed([person(i, f"P{i}") for i in range(1, 11)])  # five pages

    async def test(follower: PeopleFollower) -> None:
        assert await follower.catch_up() is False  # two pages, not the end of the feed
        assert stand_in.pages == 2
        assert await follower.sync_once() == 6  # the background pull goes on from there

    await with_follower(tmp_path, stand_in, test, catch_up_min_interval=60.0, catch_up_max_pages=2)


async def test_identity_out_of_reach_fails_fast(tmp_path: Path) -> None:
    stand_in = CountingFeed([], down=True)

    async def test(follower: PeopleFollower) -> None:
        assert await follower.catch_up() is False
        assert follower.retry_after() >= 1
        # The next misses do not try again at once: they are told to come back.
        assert [await follower.catch_up() for _ in range(10)] == [False] * 10
        stand_in.down = False
        assert stand_in.pages == 0

    await with_follower(tmp_path, stand_in, test, catch_up_min_interval=0.0)


def feed_head(url: str = "redis://127.0.0.1:6379/0") -> FeedHead:
    """A feed head under a key of this test's own (the machine's Redis is shared)."""
    return FeedHead(url, f"test:{uuid.uuid4()}:people-feed:head")


async def test_a_catch_up_pulls_only_when_the_head_has_moved_past_the_replica(tmp_path: Path) -> None:
    """With a feed head, a catch-up that would find nothing new costs no feed request: a consent
    check, which catches up before every allow, no longer waits for a pull while nobody writes."""
    stand_in = CountingFeed([person(1, "Ada"), person(2, "Ben"), person(3, "Cy")])
    head = feed_head()

    async def test(follower: PeopleFollower) -> None:
        await head.announce(3)
        assert await follower.catch_up() is True  # the replica is behind the head: pulled
        assert stand_in.pages == 2
        assert [await follower.catch_up() for _ in range(20)] == [True] * 20
        assert stand_in.pages == 2  # nothing handed out since: no pull
        # Identity writes a leaver: the head moves before the write commits, so the next
        # catch-up pulls and the replica has the leaver.
        leaver = person(4, "Ada", on_roll=False, person_id=stand_in.items[0]["id"])
        stand_in.items.append(leaver)
        await head.announce(4)
        assert await follower.catch_up() is True
        assert stand_in.pages == 3
        async with follower.sessionmaker() as session:
            ada = await session.get(ReplicaPerson, uuid.UUID(leaver["id"]))
            assert ada is not None and ada.is_on_roll is False

    try:
        await with_follower(tmp_path, stand_in, test, catch_up_min_interval=0.0, head=head)
    finally:
        await head.redis.delete(head.key)
        await head.aclose()


async def test_with_identity_down_a_replica_level_with_the_head_is_still_caught_up(tmp_path: Path) -> None:
    stand_in = CountingFeed([person(1, "Ada")])
    head = feed_head()

    async def test(follower: PeopleFollower) -> None:
        await head.announce(1)
        assert await follower.catch_up() is True
        stand_in.down = True
        assert await follower.catch_up() is True  # identity has handed out nothing newer
        await head.announce(2)  # it has now (and is out of reach): not caught up, as before
        assert await follower.catch_up() is False

    try:
        await with_follower(tmp_path, stand_in, test, catch_up_min_interval=0.0, head=head)
    finally:
        await head.redis.delete(head.key)
        await head.aclose()


async def test_a_head_that_cannot_be_read_means_a_pull(tmp_path: Path) -> None:
    stand_in = CountingFeed([person(1, "Ada")])
    head = feed_head("redis://127.0.0.1:1/0")  # nothing listens there

    async def test(follower: PeopleFollower) -> None:
        assert [await follower.catch_up() for _ in range(3)] == [True] * 3
        assert stand_in.pages == 3

    try:
        await with_follower(tmp_path, stand_in, test, catch_up_min_interval=0.0, head=head)
    finally:
        await head.aclose()


async def test_the_head_is_never_lowered_and_an_unreachable_head_refuses_the_write() -> None:
    head = feed_head()
    try:
        await head.announce(5)
        await head.announce(3)  # a late SET from a timed-out connection
        assert await head.read() == 5
    finally:
        await head.redis.delete(head.key)
        await head.aclose()
    unreachable = feed_head("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(FeedHeadUnavailable):
            await unreachable.announce(1)
        assert await unreachable.read() is None
    finally:
        await unreachable.aclose()


async def test_two_replicas_of_a_service_follow_safely_in_parallel(tmp_path: Path) -> None:
    """Two processes of one service on one database: a page read earlier by the slower one never
    overwrites the newer state stored by the other, the stored position only moves forward, and
    both processes' "not before" indexes learn a revocation."""
    url = fresh_database_url("replica-pair", tmp_path)
    engine = create_engine(sync_url(url))
    KitBase.metadata.create_all(engine)
    engine.dispose()
    db = create_async_engine(url, pool_size=4)
    sessions = make_sessionmaker(db)
    try:
        ada_id = str(uuid.uuid4())
        account_id = str(uuid.uuid4())
        revoked = datetime(2026, 9, 1, tzinfo=UTC)
        account = {
            "seq": 3,
            "kind": "account",
            "id": account_id,
            "data": {"person_id": ada_id, "not_before": revoked.isoformat(), "is_active": True},
        }
        # What the slower replica read first: Ada on roll (its page from the start).
        old_items = [person(1, "Ada", person_id=ada_id), person(2, "Ben")]
        # What identity says now: Ada has left, and an account was revoked.
        new_items = [person(2, "Ben"), account, person(4, "Ada", on_roll=False, person_id=ada_id)]
        index_a, index_b = NotBeforeIndex(), NotBeforeIndex()
        fast = PeopleFollower(
            sessions,
            identity_url="http://identity",
            client_id="c",
            client_secret="s",
            transport=feed([person(0, "Zed"), *new_items]),
            not_before=index_a,
        )
        slow = PeopleFollower(
            sessions,
            identity_url="http://identity",
            client_id="c",
            client_secret="s",
            transport=feed(old_items),
            not_before=index_b,
        )
        assert await slow._cursor() is None  # the slow replica read "from the start" earlier
        await fast.sync_once()  # the fast one stores everything up to position 4
        # The slow replica's page (read from the start, older states) arrives now: not written.
        await slow._apply(old_items, None, "2")
        async with sessions() as session:
            left = await session.get(ReplicaPerson, uuid.UUID(ada_id))
            assert left is not None and left.is_on_roll is False
            state = await session.get(FollowerState, "identity-people")
            assert state is not None and state.cursor == "4"
        # The slow replica reads on from its own place to the end, and learns the revocation.
        slow.transport = feed([person(0, "Zed"), *new_items])
        await slow.aclose()
        slow._http = None
        await slow.sync_once()
        assert index_a(account_id) == revoked
        assert index_b(account_id) == revoked
        async with sessions() as session:
            state = await session.get(FollowerState, "identity-people")
            assert state is not None and state.cursor == "4"
    finally:
        await fast.aclose()
        await db.dispose()
        drop_test_database(url)
