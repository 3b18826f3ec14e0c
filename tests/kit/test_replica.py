"""servicekit's people follower: applies identity's feed into the replica tables, keeps its cursor
with the data (a restart resumes where it was), and two pulls at once never conflict.

Identity's side of the feed is tested against the real identity service (tests/identity/test_changes.py
and every through-the-gateway test); here a small stand-in serves pages so the follower's own
behaviour can be pinned down."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

from servicekit.db import KitBase, make_sessionmaker, sync_url
from servicekit.db import create_engine as create_async_engine
from servicekit.models import FollowerState, ReplicaAccount, ReplicaPerson
from servicekit.replica import NotBeforeIndex, PeopleFollower
from servicekit.testing import drop_test_database, fresh_database_url

SCHOOL = str(uuid.uuid4())


def feed(items: list[dict]) -> httpx.MockTransport:
    """Identity's feed in two pages, and its token endpoint."""

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

    return httpx.MockTransport(handler)


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
