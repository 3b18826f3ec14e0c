"""Schools: platform administrators create them; staff see their own school only."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from identity.roles import scopes_for_roles
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.people_helpers import admin, make_school, staff

SCHOOLS = "/v1/identity/schools"


async def test_admin_creates_a_school_and_it_is_audited(client: httpx.AsyncClient, tokens, app) -> None:
    response = await client.post(
        SCHOOLS, json={"name": "Star Primary", "urn": "123456", "la_code": "202"}, headers=admin(tokens)
    )
    assert response.status_code == 201
    school = response.json()
    assert uuid.UUID(school["id"]) and school["urn"] == "123456" and school["la_code"] == "202"
    assert response.headers["ETag"] == '"1"'
    async with app.state.sessionmaker() as session:
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == school["id"]))
        ).all()
    assert actions == ["school.created"]


async def test_urn_and_la_code_are_validated(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    for body in (
        {"name": "A", "urn": "12345", "la_code": "202"},
        {"name": "A", "urn": "1234567", "la_code": "202"},
        {"name": "A", "urn": "12345a", "la_code": "202"},
        {"name": "A", "urn": "123456", "la_code": "20"},
        {"name": "A", "urn": "123456", "la_code": "2021"},
        {"name": "", "urn": "123456", "la_code": "202"},
        {"name": "A", "urn": "123456", "la_code": "202", "id": str(uuid.uuid4())},
    ):
        response = await client.post(SCHOOLS, json=body, headers=admin(tokens))
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(SCHOOLS, headers=admin(tokens))).json()["items"] == []


async def test_duplicate_urn_is_a_conflict(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    body = {"name": "One", "urn": "222222", "la_code": "202"}
    assert (await client.post(SCHOOLS, json=body, headers=admin(tokens))).status_code == 201
    again = await client.post(SCHOOLS, json={**body, "name": "Two"}, headers=admin(tokens))
    assert again.status_code == 409


async def test_only_a_platform_admin_creates_schools(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    body = {"name": "Rogue", "urn": "333333", "la_code": "202"}
    head = await client.post(SCHOOLS, json=body, headers=staff(tokens, school))
    assert head.status_code == 403
    # Even a token that somehow carries the scope, without the role, is refused.
    scoped = tokens.headers(scopes=["schools:write"], roles=["head_teacher"], school_id=school)
    assert (await client.post(SCHOOLS, json=body, headers=scoped)).status_code == 403
    client_token = tokens.headers(scopes=["schools:write"], client_id="mis")
    assert (await client.post(SCHOOLS, json=body, headers=client_token)).status_code == 403
    assert (await client.post(SCHOOLS, json=body)).status_code == 401


async def test_staff_see_their_own_school_only(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    mine = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    head = staff(tokens, mine)
    listed = (await client.get(SCHOOLS, headers=head)).json()["items"]
    assert [s["id"] for s in listed] == [mine]
    assert (await client.get(f"{SCHOOLS}/{mine}", headers=head)).status_code == 200
    assert (await client.get(f"{SCHOOLS}/{other}", headers=head)).status_code == 404
    assert (await client.get(f"{SCHOOLS}/{uuid.uuid4()}", headers=head)).status_code == 404
    everything = (await client.get(SCHOOLS, headers=admin(tokens))).json()["items"]
    assert {s["id"] for s in everything} == {mine, other}


async def test_school_list_pages(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    ids = [await make_school(client, tokens, f"S{i}") for i in range(3)]
    first = await client.get(SCHOOLS, params={"limit": 2}, headers=admin(tokens))
    assert len(first.json()["items"]) == 2 and 'rel="next"' in first.headers["Link"]
    rest = await client.get(
        SCHOOLS, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=admin(tokens)
    )
    seen = [s["id"] for s in first.json()["items"] + rest.json()["items"]]
    assert sorted(seen) == sorted(ids) and rest.json()["next_cursor"] is None


async def test_update_needs_the_current_etag(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    url = f"{SCHOOLS}/{school}"
    missing = await client.patch(url, json={"name": "Renamed"}, headers=admin(tokens))
    assert missing.status_code == 428
    ok = await client.patch(url, json={"name": "Renamed"}, headers={**admin(tokens), "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["name"] == "Renamed" and ok.headers["ETag"] == '"2"'
    stale = await client.patch(url, json={"name": "Again"}, headers={**admin(tokens), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await client.get(url, headers=admin(tokens))).json()["name"] == "Renamed"
    head = {**staff(tokens, school), "If-Match": '"2"'}
    assert (await client.patch(url, json={"name": "Mine now"}, headers=head)).status_code == 403


async def test_a_retried_create_makes_one_school(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    headers = {**admin(tokens), "Idempotency-Key": "create-star"}
    body = {"name": "Star", "urn": "444444", "la_code": "202"}
    first = await client.post(SCHOOLS, json=body, headers=headers)
    second = await client.post(SCHOOLS, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len((await client.get(SCHOOLS, headers=admin(tokens))).json()["items"]) == 1
    other_body = await client.post(SCHOOLS, json={**body, "urn": "555555"}, headers=headers)
    assert other_body.status_code == 422


async def test_a_governor_may_read_their_school(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    governor = tokens.headers(scopes=scopes_for_roles(["governor"]), roles=["governor"], school_id=school)
    assert (await client.get(f"{SCHOOLS}/{school}", headers=governor)).status_code == 200
    parent = tokens.headers(scopes=scopes_for_roles(["parent"]), roles=["parent"], school_id=school)
    assert (await client.get(f"{SCHOOLS}/{school}", headers=parent)).status_code == 403
