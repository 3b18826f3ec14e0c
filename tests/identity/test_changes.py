"""The people change feed: every change to schools, people and carer links, in order, once."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text

from identity.changes import service as change_service
from identity.changes.models import PeopleChange
from identity.people.models import Person
from identity.roles import scopes_for_roles
from identity.schools.models import School
from servicekit.db import create_engine, make_sessionmaker
from servicekit.replica import FEED_HEAD_KEY, FeedHead
from servicekit.testing import TokenFactory
from tests.identity.people_helpers import admin, feed_client, link, make_person, make_school, staff, upn
from tests.identity.signin_support import make_account

CHANGES = "/v1/identity/changes"


async def read_all(
    client: httpx.AsyncClient, tokens: TokenFactory, cursor: str | None = None, limit: int = 500
) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(CHANGES, params=params, headers=feed_client(tokens))
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        assert cursor
        if not page["has_more"]:
            return items, cursor


async def test_feed_carries_schools_people_and_carer_links_in_order(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    _, start = await read_all(client, tokens)
    school = await make_school(client, tokens)
    ref = upn()
    pupil = await make_person(
        client, tokens, school, external_ref=ref, year_group="2", date_of_birth="2019-05-01"
    )
    mum = await make_person(client, tokens, school, kind="parent")
    carer = await link(client, tokens, school, pupil["id"], mum["id"])

    items, end = await read_all(client, tokens, start)
    assert [(i["kind"], i["id"]) for i in items] == [
        ("school", school), ("person", pupil["id"]), ("person", mum["id"]), ("carer_link", carer["id"]),
    ]  # fmt: skip
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert items[0]["data"] == {"name": "Star Primary", "urn": items[0]["data"]["urn"], "la_code": "801"}
    assert items[1]["data"] == {
        "school_id": school, "kind": "pupil", "given_name": "Ada", "family_name": "Lovelace",
        "year_group": "2", "date_of_birth": "2019-05-01", "external_ref": ref, "is_on_roll": True, "roles": [],
    }  # fmt: skip
    assert items[3]["data"] == {
        "pupil_id": pupil["id"], "carer_id": mum["id"], "relationship": "mother",
        "has_parental_responsibility": True, "is_active": True,
    }  # fmt: skip

    # Nothing new: the same cursor comes back, and no items.
    again = (await client.get(CHANGES, params={"cursor": end}, headers=feed_client(tokens))).json()
    assert again == {"items": [], "next_cursor": end, "has_more": False}

    # A change moves the entity to the end of the feed, once, in its latest state.
    head = staff(tokens, school)
    await client.post(f"/v1/identity/people/{pupil['id']}/leave", headers=head)
    await client.post(f"/v1/identity/people/{pupil['id']}/carers/{carer['id']}/end", headers=head)
    later, _ = await read_all(client, tokens, end)
    assert [(i["kind"], i["id"]) for i in later] == [("person", pupil["id"]), ("carer_link", carer["id"])]
    assert later[0]["data"]["is_on_roll"] is False and later[1]["data"]["is_active"] is False
    everything, _ = await read_all(client, tokens, start)
    assert [i["id"] for i in everything] == [school, mum["id"], pupil["id"], carer["id"]]


async def test_person_items_carry_their_accounts_roles(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    teacher = await make_person(client, tokens, school, kind="staff")
    _, start = await read_all(client, tokens)
    body = {
        "person_id": teacher["id"],
        "username": "t.roles",
        "password": "correct horse battery staple 42",
        "roles": ["teacher"],
    }
    assert (
        await client.post("/v1/identity/users", json=body, headers=staff(tokens, school))
    ).status_code == 201
    items, end = await read_all(client, tokens, start)
    person_items = [i for i in items if i["kind"] == "person"]
    assert [(i["id"], i["data"]["roles"]) for i in person_items] == [(teacher["id"], ["teacher"])]
    # A leaver's accounts are deactivated: their person item no longer carries the role.
    await client.post(f"/v1/identity/people/{teacher['id']}/leave", headers=staff(tokens, school))
    later, _ = await read_all(client, tokens, end)
    left = [i for i in later if i["kind"] == "person"]
    assert left[0]["data"]["is_on_roll"] is False and left[0]["data"]["roles"] == []
    assert any(i["kind"] == "account" and i["data"]["is_active"] is False for i in later)


async def test_cursor_resumes_where_the_last_page_ended(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    _, start = await read_all(client, tokens)
    school = await make_school(client, tokens)
    people = [(await make_person(client, tokens, school, kind="staff"))["id"] for _ in range(4)]
    first = (
        await client.get(CHANGES, params={"cursor": start, "limit": 2}, headers=feed_client(tokens))
    ).json()
    assert first["has_more"] is True and [i["id"] for i in first["items"]] == [school, people[0]]
    second = (
        await client.get(
            CHANGES, params={"cursor": first["next_cursor"], "limit": 2}, headers=feed_client(tokens)
        )
    ).json()
    assert [i["id"] for i in second["items"]] == people[1:3] and second["has_more"] is True
    rest, _ = await read_all(client, tokens, second["next_cursor"])
    assert [i["id"] for i in rest] == people[3:]


async def test_an_imported_roll_is_in_the_feed(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    _, start = await read_all(client, tokens)
    school = await make_school(client, tokens)
    ref = upn()
    rows = [
        {"external_ref": "P9", "kind": "parent", "given_name": "M", "family_name": "B", "carer_of": ref,
         "relationship": "mother", "parental_responsibility": True},
        {"external_ref": ref, "kind": "pupil", "given_name": "A", "family_name": "B", "year_group": "R"},
    ]  # fmt: skip
    office = staff(tokens, school, "office")
    report = await client.post("/v1/identity/people/imports", json={"rows": rows}, headers=office)
    assert report.json()["counts"]["created"] == 2
    items, end = await read_all(client, tokens, start)
    assert [i["kind"] for i in items] == ["school", "person", "person", "carer_link"]
    assert items[1]["data"]["external_ref"] == ref  # the pupil's row went in first
    again = await client.post("/v1/identity/people/imports", json={"rows": rows}, headers=office)
    assert again.json()["counts"]["unchanged"] == 2
    assert (await read_all(client, tokens, end))[0] == []


async def test_only_platform_services_follow_the_feed(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    assert (await client.get(CHANGES)).status_code == 401
    person_with_scope = tokens.headers(
        scopes=["identity:feed", *scopes_for_roles(["platform_admin"])], roles=["platform_admin"]
    )
    assert (await client.get(CHANGES, headers=person_with_scope)).status_code == 403
    school_client = tokens.headers(scopes=["identity:feed"], client_id="mis", school_id=school)
    assert (await client.get(CHANGES, headers=school_client)).status_code == 403
    without_scope = tokens.headers(scopes=["people:read"], client_id="devices-feed")
    assert (await client.get(CHANGES, headers=without_scope)).status_code == 403
    assert (await client.get(CHANGES, headers=admin(tokens))).status_code == 403
    bad_cursor = await client.get(CHANGES, params={"cursor": "not-a-cursor"}, headers=feed_client(tokens))
    assert bad_cursor.status_code == 422
    negative = await client.get(CHANGES, params={"cursor": "eyJzZXEiOi0xfQ"}, headers=feed_client(tokens))
    assert negative.status_code == 422
    assert (await client.get(CHANGES, params={"limit": 501}, headers=feed_client(tokens))).status_code == 422


async def _wait_for_lock_waiter(session: Any) -> None:
    """Wait, on PostgreSQL's own report (not a timer), until a backend is blocked on a lock."""
    for _ in range(2000):
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        await session.rollback()
        if waiting:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no writer ever waited on the feed counter")


@pytest.mark.postgres_only
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="concurrent writers need PostgreSQL")
async def test_a_change_committed_out_of_order_is_not_skipped(database_for: Any) -> None:
    """Writer A records a change and commits late; B cannot pass it, so a reader never skips A's."""
    engine = create_engine(database_for("identity"), pool_size=4)
    sessions = make_sessionmaker(engine)
    now = datetime(2026, 9, 7, tzinfo=UTC)
    school_id = uuid.uuid4()
    try:
        async with sessions() as setup:
            setup.add(
                School(id=school_id, name="Race", urn="987650", la_code="801", created_at=now, updated_at=now)
            )
            await setup.commit()
            _, cursor, _ = await change_service.read_changes(setup, cursor=None, limit=100_000)
            await setup.rollback()

        def person(name: str) -> Person:
            return Person(
                id=uuid.uuid4(), school_id=school_id, kind="staff", given_name=name, family_name="Race",
                is_on_roll=True, created_at=now, updated_at=now, version=1,
            )  # fmt: skip

        async with sessions() as a, sessions() as b, sessions() as reader:
            slow, fast = person("Slow"), person("Fast")
            a.add(slow)
            await a.flush()
            await change_service.record_change(a, kind="person", entity_id=slow.id, at=now)

            async def write_fast() -> None:
                b.add(fast)
                await b.flush()
                await change_service.record_change(b, kind="person", entity_id=fast.id, at=now)
                await b.commit()

            fast_task = asyncio.create_task(write_fast())
            await _wait_for_lock_waiter(reader)
            assert not fast_task.done(), "B recorded a change while A's was uncommitted"
            items, mid_cursor, _ = await change_service.read_changes(reader, cursor=cursor, limit=100)
            await reader.rollback()
            assert items == [] and mid_cursor == cursor  # nothing committed yet: nothing to skip past
            await a.commit()
            await fast_task
            items, _, _ = await change_service.read_changes(reader, cursor=cursor, limit=100)
            await reader.rollback()
            assert [i.id for i in items] == [slow.id, fast.id]
            assert items[0].seq < items[1].seq
    finally:
        async with sessions() as cleanup:
            ids = [
                school_id,
                *(await cleanup.scalars(select(Person.id).where(Person.school_id == school_id))),
            ]
            await cleanup.execute(delete(PeopleChange).where(PeopleChange.entity_id.in_(ids)))
            await cleanup.execute(delete(Person).where(Person.school_id == school_id))
            await cleanup.execute(delete(School).where(School.id == school_id))
            await cleanup.commit()
        await engine.dispose()


async def test_each_write_raises_the_feed_head_and_without_it_nothing_is_written(
    app: Any, client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    """Where the platform keeps a feed head (servicekit.replica.FeedHead), identity announces every
    number before its write commits, so followers may skip a pull only when nothing newer exists:
    a write whose number cannot be announced is refused and leaves nothing behind; a revocation
    (an account's change) is never refused for want of Redis."""
    key = f"test:{uuid.uuid4()}:people-feed:head"
    head = FeedHead("redis://127.0.0.1:6379/0", key)
    unreachable = FeedHead("redis://127.0.0.1:1/0", key)  # nothing listens there
    try:
        app.state.sessionmaker.configure(info={FEED_HEAD_KEY: head})
        school = await make_school(client, tokens)
        pupil = await make_person(client, tokens, school)
        items, _ = await read_all(client, tokens)
        assert items[-1]["id"] == pupil["id"]
        assert await head.read() == items[-1]["seq"]
        account, _ = await make_account(app, ["teacher"], school_id=uuid.UUID(school))
        items, _ = await read_all(client, tokens)

        app.state.sessionmaker.configure(info={FEED_HEAD_KEY: unreachable})
        body = {"school_id": school, "kind": "pupil", "given_name": "Unseen", "family_name": "Pupil"}
        refused = await client.post(
            "/v1/identity/people", json={**body, "year_group": "3"}, headers=staff(tokens, school)
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        app.state.sessionmaker.configure(info={})
        after, after_cursor = await read_all(client, tokens)
        assert [i["id"] for i in after] == [i["id"] for i in items]  # no person, no feed item
        people = await client.get(
            "/v1/identity/people", params={"school_id": school}, headers=staff(tokens, school)
        )
        assert "Unseen" not in [p["given_name"] for p in people.json()["items"]]

        app.state.sessionmaker.configure(info={FEED_HEAD_KEY: unreachable})
        deactivated = await client.post(f"/v1/identity/users/{account.id}/deactivate", headers=admin(tokens))
        assert deactivated.status_code == 200, deactivated.text
        app.state.sessionmaker.configure(info={})
        revoked, _ = await read_all(client, tokens, after_cursor)
        assert ("account", str(account.id)) in [(i["kind"], i["id"]) for i in revoked]
    finally:
        await head.redis.delete(key)
        await head.aclose()
        await unreachable.aclose()
