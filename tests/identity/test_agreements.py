"""Acceptable-use agreements: versions per audience, who has signed, parents signing for KS1."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from identity.roles import scopes_for_roles
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.people_helpers import link, make_person, make_school, staff

AGREEMENTS = "/v1/identity/agreements"


def person_token(tokens: TokenFactory, school: str, person: dict[str, Any], role: str) -> dict[str, str]:
    return tokens.headers(
        scopes=scopes_for_roles([role]), roles=[role], school_id=school, person_id=person["id"]
    )


async def publish(
    client: httpx.AsyncClient, tokens: TokenFactory, school: str, audience: str
) -> dict[str, Any]:
    response = await client.post(
        AGREEMENTS,
        json={"audience": audience, "title": f"{audience} AUP", "text": "I will use ICT safely."},
        headers=staff(tokens, school),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def unsigned(client: httpx.AsyncClient, tokens: TokenFactory, school: str, audience: str) -> set[str]:
    response = await client.get(
        f"{AGREEMENTS}/unsigned", params={"audience": audience}, headers=staff(tokens, school)
    )
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["items"]}


async def test_a_new_version_means_everyone_signs_again(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    alice = await make_person(client, tokens, school, kind="staff", given_name="Alice")
    bob = await make_person(client, tokens, school, kind="staff", given_name="Bob")
    await make_person(client, tokens, school, kind="governor")
    v1 = await publish(client, tokens, school, "staff")
    assert v1["number"] == 1
    assert await unsigned(client, tokens, school, "staff") == {alice["id"], bob["id"]}

    signed = await client.post(
        f"{AGREEMENTS}/{v1['id']}/signatures", headers=person_token(tokens, school, alice, "teacher")
    )
    assert signed.status_code == 201
    assert signed.json()["person_id"] == signed.json()["signed_by_person_id"] == alice["id"]
    assert await unsigned(client, tokens, school, "staff") == {bob["id"]}
    twice = await client.post(
        f"{AGREEMENTS}/{v1['id']}/signatures", headers=person_token(tokens, school, alice, "teacher")
    )
    assert twice.status_code == 409

    v2 = await publish(client, tokens, school, "staff")
    assert v2["number"] == 2
    assert await unsigned(client, tokens, school, "staff") == {alice["id"], bob["id"]}
    old = await client.post(
        f"{AGREEMENTS}/{v1['id']}/signatures", headers=person_token(tokens, school, bob, "teacher")
    )
    assert old.status_code == 409 and "newer" in old.json()["detail"]
    # The first signature is kept (appended, never changed).
    history = await client.get(f"{AGREEMENTS}/{v1['id']}/signatures", headers=staff(tokens, school))
    assert [s["person_id"] for s in history.json()["items"]] == [alice["id"]]
    async with app.state.sessionmaker() as session:
        published = (
            await session.scalars(
                select(AuditEntry.target_id).where(AuditEntry.action == "agreement.published")
            )
        ).all()
    assert set(published) == {v1["id"], v2["id"]}


async def test_a_parent_signs_for_a_ks1_child(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    child = await make_person(client, tokens, school, year_group="1")
    mum = await make_person(client, tokens, school, kind="parent")
    await link(client, tokens, school, child["id"], mum["id"])
    version = await publish(client, tokens, school, "pupil")
    assert child["id"] in await unsigned(client, tokens, school, "pupil")
    response = await client.post(
        f"{AGREEMENTS}/{version['id']}/signatures",
        json={"person_id": child["id"]},
        headers=person_token(tokens, school, mum, "parent"),
    )
    assert response.status_code == 201
    assert response.json()["person_id"] == child["id"] and response.json()["signed_by_person_id"] == mum["id"]
    assert child["id"] not in await unsigned(client, tokens, school, "pupil")


async def test_a_parent_cannot_sign_for_a_year_4_child(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    child = await make_person(client, tokens, school, year_group="4")
    mum = await make_person(client, tokens, school, kind="parent")
    await link(client, tokens, school, child["id"], mum["id"])
    version = await publish(client, tokens, school, "pupil")
    response = await client.post(
        f"{AGREEMENTS}/{version['id']}/signatures",
        json={"person_id": child["id"]},
        headers=person_token(tokens, school, mum, "parent"),
    )
    assert response.status_code == 403
    assert child["id"] in await unsigned(client, tokens, school, "pupil")
    # The Year 4 pupil signs for themselves.
    own = await client.post(
        f"{AGREEMENTS}/{version['id']}/signatures", headers=person_token(tokens, school, child, "pupil")
    )
    assert own.status_code == 201


async def test_a_parent_cannot_sign_for_another_familys_child(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    theirs = await make_person(client, tokens, school, year_group="R")
    ours = await make_person(client, tokens, school, year_group="R")
    mum = await make_person(client, tokens, school, kind="parent")
    await link(client, tokens, school, ours["id"], mum["id"])
    stepdad = await make_person(client, tokens, school, kind="parent")
    await link(
        client,
        tokens,
        school,
        ours["id"],
        stepdad["id"],
        parental_responsibility=False,
        relationship="stepfather",
    )
    version = await publish(client, tokens, school, "pupil")
    url = f"{AGREEMENTS}/{version['id']}/signatures"
    other_family = await client.post(
        url, json={"person_id": theirs["id"]}, headers=person_token(tokens, school, mum, "parent")
    )
    assert other_family.status_code == 403
    without_pr = await client.post(
        url, json={"person_id": ours["id"]}, headers=person_token(tokens, school, stepdad, "parent")
    )
    assert without_pr.status_code == 403
    assert await unsigned(client, tokens, school, "pupil") == {theirs["id"], ours["id"]}


async def test_signing_rules(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    teacher = await make_person(client, tokens, school, kind="staff")
    pupils_version = await publish(client, tokens, school, "pupil")
    theirs = await publish(client, tokens, other, "staff")
    me = person_token(tokens, school, teacher, "teacher")
    wrong_audience = await client.post(f"{AGREEMENTS}/{pupils_version['id']}/signatures", headers=me)
    assert wrong_audience.status_code == 409
    assert (await client.post(f"{AGREEMENTS}/{theirs['id']}/signatures", headers=me)).status_code == 404
    assert (await client.get(f"{AGREEMENTS}/{theirs['id']}", headers=me)).status_code == 404
    mis = tokens.headers(scopes=["agreements:sign"], client_id="mis", school_id=school)
    assert (
        await client.post(f"{AGREEMENTS}/{pupils_version['id']}/signatures", headers=mis)
    ).status_code == 403
    extra = await client.post(
        f"{AGREEMENTS}/{pupils_version['id']}/signatures",
        json={"signed_at": "2020-01-01T00:00:00Z"},
        headers=me,
    )
    assert extra.status_code == 422


async def test_publishing_and_reading_are_for_the_right_people(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    body = {"audience": "parent", "title": "Parents' AUP", "text": "..."}
    teacher = tokens.headers(scopes=scopes_for_roles(["teacher"]), roles=["teacher"], school_id=school)
    assert (await client.post(AGREEMENTS, json=body, headers=teacher)).status_code == 403
    assert (
        await client.get(f"{AGREEMENTS}/unsigned", params={"audience": "parent"}, headers=teacher)
    ).status_code == 403
    into_other = await client.post(
        AGREEMENTS, json={**body, "school_id": other}, headers=staff(tokens, school)
    )
    assert into_other.status_code == 422
    assert (
        await client.post(AGREEMENTS, json={**body, "audience": "alien"}, headers=staff(tokens, school))
    ).status_code == 422
    none_yet = await client.get(
        f"{AGREEMENTS}/unsigned", params={"audience": "parent"}, headers=staff(tokens, school)
    )
    assert none_yet.status_code == 404
    await publish(client, tokens, other, "parent")
    listed = await client.get(AGREEMENTS, headers=staff(tokens, school))
    assert listed.json()["items"] == []  # another school's versions are not listed


async def test_a_parent_reads_what_their_ks1_child_has_to_sign_and_whether_it_is_signed(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    child = await make_person(client, tokens, school, year_group="R")
    older = await make_person(client, tokens, school, year_group="4")
    theirs = await make_person(client, tokens, school, year_group="1")
    mum = await make_person(client, tokens, school, kind="parent")
    await link(client, tokens, school, child["id"], mum["id"])
    await link(client, tokens, school, older["id"], mum["id"])
    as_mum = person_token(tokens, school, mum, "parent")
    url = f"{AGREEMENTS}/current"
    none_yet = await client.get(url, params={"person_id": child["id"]}, headers=as_mum)
    assert none_yet.status_code == 404 and none_yet.json()["type"].endswith("no-agreement-published")
    version = await publish(client, tokens, school, "pupil")
    before = await client.get(url, params={"person_id": child["id"]}, headers=as_mum)
    assert before.status_code == 200, before.text
    assert before.json()["version"]["id"] == version["id"] and before.json()["signature"] is None
    signed = await client.post(
        f"{AGREEMENTS}/{version['id']}/signatures", json={"person_id": child["id"]}, headers=as_mum
    )
    after = (await client.get(url, params={"person_id": child["id"]}, headers=as_mum)).json()
    assert after["signature"] == signed.json()
    # Not their child, or not in KS1: refused as signing for them would be; nothing to read.
    for pupil in (theirs, older):
        refused = await client.get(url, params={"person_id": pupil["id"]}, headers=as_mum)
        assert refused.status_code == 403 and "version" not in refused.json()
    # Oneself: the parents' agreement (none published yet), and a client is no person.
    assert (await client.get(url, headers=as_mum)).status_code == 404
    mis = tokens.headers(scopes=["agreements:sign"], client_id="mis", school_id=school)
    assert (await client.get(url, headers=mis)).status_code == 403
