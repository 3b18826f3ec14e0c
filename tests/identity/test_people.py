"""People and carer links: validation, UPNs, school isolation, versions, leavers."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from identity.people.models import Person
from identity.people.upn import check_letter, is_temporary, upn_problem
from identity.roles import scopes_for_roles
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.people_helpers import admin, link, make_person, make_school, staff, upn

PEOPLE = "/v1/identity/people"


# --- UPN check letter ---------------------------------------------------------------------------


def test_upn_check_letter_of_a_published_example() -> None:
    # Worked example: B801200005001 (LA 801, establishment 2000, 2000, serial 5001).
    assert check_letter("801200005001") == "B"
    assert upn_problem("B801200005001") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("A801200005001", "check letter"),  # wrong check letter
        ("B801200005002", "check letter"),  # a mistyped digit
        ("B80120000500", "13 characters"),  # too short
        ("B8012000050011", "13 characters"),  # too long
        ("B80120000X001", "digits"),
        ("I801200005001", "check letter"),  # I is not in the check alphabet
        ("b801200005001", "check letter"),
        ("B80120000500I", "temporary"),  # I, O, S cannot end a temporary UPN
    ],
)
def test_bad_upns_are_refused(value: str, problem: str) -> None:
    reason = upn_problem(value)
    assert reason is not None and problem in reason


def test_temporary_upns_end_in_a_letter() -> None:
    temporary = upn(7, temporary="A")
    assert temporary[-1] == "A" and is_temporary(temporary)
    assert upn_problem(temporary) is None
    assert upn_problem(temporary[0] + temporary[1:12] + "B") is not None  # check letter no longer fits
    assert not is_temporary("B801200005001")


# --- creating people -----------------------------------------------------------------------------


async def test_create_a_pupil_with_a_upn(client: httpx.AsyncClient, tokens: TokenFactory, app) -> None:
    school = await make_school(client, tokens)
    ref = upn()
    response = await client.post(
        PEOPLE,
        json={
            "school_id": school,
            "kind": "pupil",
            "given_name": " Ada ",
            "family_name": "Lovelace",
            "year_group": "R",
            "external_ref": ref,
            "date_of_birth": "2021-03-04",
        },
        headers=staff(tokens, school),
    )
    assert response.status_code == 201
    person = response.json()
    assert person["given_name"] == "Ada" and person["external_ref"] == ref
    assert person["is_on_roll"] is True and person["version"] == 1
    assert response.headers["ETag"] == '"1"'
    async with app.state.sessionmaker() as session:
        audited = await session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == person["id"]))
    assert audited == "person.created"


@pytest.mark.parametrize(
    "change",
    [
        {"year_group": None},  # a pupil needs a year group
        {"year_group": "7"},  # primary: N, R, 1..6
        {"kind": "teacher"},
        {"external_ref": "A801200026001"},  # wrong check letter
        {"external_ref": "X8012"},  # not 13 characters
        {"given_name": ""},
        {"given_name": "x" * 101},
        {"given_name": "Ada\nDROP"},
        {"roles": ["platform_admin"]},  # property-level: no such field
        {"is_on_roll": False},
    ],
)
async def test_bad_people_are_refused(client: httpx.AsyncClient, tokens: TokenFactory, change) -> None:
    school = await make_school(client, tokens)
    body = {"school_id": school, "kind": "pupil", "given_name": "Ada", "family_name": "L", "year_group": "3"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post(PEOPLE, json=body, headers=staff(tokens, school))
    assert response.status_code == 422
    assert (await client.get(PEOPLE, headers=staff(tokens, school))).json()["items"] == []


@pytest.mark.parametrize("value", [0, 1700000000, "0.5", True, "2021-03-04T00:00:00Z"])
async def test_a_date_of_birth_is_yyyy_mm_dd_text_not_a_number(
    client: httpx.AsyncClient, tokens: TokenFactory, value
) -> None:
    school = await make_school(client, tokens)
    body = {"school_id": school, "kind": "pupil", "given_name": "Ada", "family_name": "L", "year_group": "3"}
    response = await client.post(PEOPLE, json={**body, "date_of_birth": value}, headers=staff(tokens, school))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [
        ("body.date_of_birth", "date_format")
    ]
    assert "YYYY-MM-DD" in response.json()["errors"][0]["message"]
    assert (await client.get(PEOPLE, headers=staff(tokens, school))).json()["items"] == []


async def test_a_leaving_date_or_a_changed_birth_date_is_never_a_number(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    pupil = await make_person(client, tokens, school, date_of_birth="2019-05-06")
    url = f"{PEOPLE}/{pupil['id']}"
    head = staff(tokens, school)
    left = await client.post(f"{url}/leave", json={"left_on": 0}, headers=head)
    assert left.status_code == 422 and left.json()["errors"][0]["field"] == "body.left_on"
    changed = await client.patch(url, json={"date_of_birth": "0"}, headers={**head, "If-Match": '"1"'})
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "body.date_of_birth"
    current = (await client.get(url, headers=head)).json()
    assert current["is_on_roll"] is True and current["left_on"] is None
    assert current["date_of_birth"] == "2019-05-06" and current["version"] == 1


async def test_only_pupils_have_a_year_group(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    body = {"school_id": school, "kind": "staff", "given_name": "T", "family_name": "S", "year_group": "3"}
    assert (await client.post(PEOPLE, json=body, headers=staff(tokens, school))).status_code == 422
    del body["year_group"]
    body["external_ref"] = "STAFF-17"  # not a pupil: any reference
    assert (await client.post(PEOPLE, json=body, headers=staff(tokens, school))).status_code == 201


async def test_external_ref_is_unique_per_school(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    one = await make_school(client, tokens, "One")
    two = await make_school(client, tokens, "Two")
    ref = upn()
    await make_person(client, tokens, one, external_ref=ref)
    body = {"school_id": one, "kind": "pupil", "given_name": "B", "family_name": "C", "year_group": "1"}
    again = await client.post(PEOPLE, json={**body, "external_ref": ref}, headers=staff(tokens, one))
    assert again.status_code == 409
    elsewhere = await make_person(client, tokens, two, external_ref=ref)
    assert elsewhere["school_id"] == two


async def test_a_head_teacher_cannot_add_people_to_another_school(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    mine = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    body = {"school_id": other, "kind": "pupil", "given_name": "X", "family_name": "Y", "year_group": "2"}
    response = await client.post(PEOPLE, json=body, headers=staff(tokens, mine))
    assert response.status_code == 422
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
    # A platform administrator may, naming the school.
    assert (await client.post(PEOPLE, json=body, headers=admin(tokens))).status_code == 201


async def test_roles_without_people_write_cannot_add_people(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    body = {"school_id": school, "kind": "visitor", "given_name": "V", "family_name": "W"}
    for role in ("teacher", "safeguarding_lead", "parent", "pupil"):
        response = await client.post(PEOPLE, json=body, headers=staff(tokens, school, role))
        assert response.status_code == 403, role


async def test_a_retried_create_makes_one_person(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    headers = {**staff(tokens, school), "Idempotency-Key": "k-1"}
    body = {"school_id": school, "kind": "parent", "given_name": "P", "family_name": "Q"}
    first = await client.post(PEOPLE, json=body, headers=headers)
    second = await client.post(PEOPLE, json=body, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len((await client.get(PEOPLE, headers=staff(tokens, school))).json()["items"]) == 1


# --- reading and finding ------------------------------------------------------------------------


async def test_another_schools_person_is_not_found(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    mine = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    ref = upn()
    theirs = await make_person(client, tokens, other, external_ref=ref)
    head = staff(tokens, mine)
    url = f"{PEOPLE}/{theirs['id']}"
    assert (await client.get(url, headers=head)).status_code == 404
    patched = await client.patch(url, json={"given_name": "Z"}, headers={**head, "If-Match": '"1"'})
    assert patched.status_code == 404
    assert (await client.post(f"{url}/leave", headers=head)).status_code == 404
    found = await client.get(PEOPLE, params={"external_ref": ref}, headers=head)
    assert found.json()["items"] == []
    other_school = await client.get(PEOPLE, params={"school_id": other}, headers=head)
    assert other_school.status_code == 404
    assert (await client.get(url, headers=staff(tokens, other))).status_code == 200


async def test_find_people_by_mis_reference_and_filters(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    ref = upn()
    ada = await make_person(client, tokens, school, external_ref=ref, year_group="2")
    await make_person(client, tokens, school, given_name="Grace", family_name="Hopper", year_group="5")
    await make_person(client, tokens, school, kind="staff", given_name="Alan", family_name="Turing")
    mis = tokens.headers(scopes=["people:read", "phones:read"], client_id="mis", school_id=school)

    async def ids(**params: str) -> list[str]:
        response = await client.get(PEOPLE, params=params, headers=mis)
        assert response.status_code == 200
        return [p["id"] for p in response.json()["items"]]

    assert await ids(external_ref=ref) == [ada["id"]]
    assert len(await ids(kind="pupil")) == 2
    assert len(await ids(year_group="5")) == 1
    assert len(await ids(q="hop")) == 1
    assert await ids(q="%") == []  # LIKE wildcards are matched literally
    assert len(await ids(on_roll="true")) == 3
    bad = await client.get(PEOPLE, params={"kind": "alien"}, headers=mis)
    assert bad.status_code == 422
    page = await client.get(PEOPLE, params={"limit": 2}, headers=mis)
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"] and "Link" in page.headers
    assert (await client.get(PEOPLE, params={"limit": 501}, headers=mis)).status_code == 422


# --- changing people and leavers ----------------------------------------------------------------


async def test_update_with_if_match(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    pupil = await make_person(client, tokens, school)
    url = f"{PEOPLE}/{pupil['id']}"
    head = staff(tokens, school)
    assert (await client.patch(url, json={"year_group": "4"}, headers=head)).status_code == 428
    ok = await client.patch(url, json={"year_group": "4"}, headers={**head, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["year_group"] == "4" and ok.json()["version"] == 2
    assert ok.headers["ETag"] == '"2"'
    stale = await client.patch(url, json={"year_group": "5"}, headers={**head, "If-Match": '"1"'})
    assert stale.status_code == 412
    current = await client.get(url, headers=head)
    assert current.json()["year_group"] == "4" and current.headers["ETag"] == '"2"'
    for body in ({"school_id": str(uuid.uuid4())}, {"kind": "staff"}, {"year_group": None}):
        response = await client.patch(url, json=body, headers={**head, "If-Match": '"2"'})
        assert response.status_code == 422, body
    assert (await client.get(url, headers=head)).json()["version"] == 2


async def test_mark_a_leaver(client: httpx.AsyncClient, tokens: TokenFactory, clock) -> None:
    school = await make_school(client, tokens)
    pupil = await make_person(client, tokens, school)
    url = f"{PEOPLE}/{pupil['id']}/leave"
    left = await client.post(url, headers=staff(tokens, school))
    assert left.status_code == 200
    assert left.json()["is_on_roll"] is False and left.json()["left_on"] == clock.now().date().isoformat()
    again = await client.post(url, json={"left_on": "2026-07-20"}, headers=staff(tokens, school))
    assert again.status_code == 409
    on_roll = await client.get(PEOPLE, params={"on_roll": "true"}, headers=staff(tokens, school))
    assert on_roll.json()["items"] == []
    # Kept, not deleted.
    assert (await client.get(f"{PEOPLE}/{pupil['id']}", headers=staff(tokens, school))).status_code == 200


# --- carer links ---------------------------------------------------------------------------------


async def test_link_list_and_end_carers(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    pupil = await make_person(client, tokens, school)
    mum = await make_person(client, tokens, school, kind="parent", given_name="Anne")
    created = await link(client, tokens, school, pupil["id"], mum["id"])
    assert created["parental_responsibility"] is True and created["is_active"] is True
    carers = f"{PEOPLE}/{pupil['id']}/carers"
    head = staff(tokens, school)
    duplicate = await client.post(
        carers,
        json={"carer_id": mum["id"], "relationship": "mother", "parental_responsibility": True},
        headers=head,
    )
    assert duplicate.status_code == 409
    ended = await client.post(f"{carers}/{created['id']}/end", headers=head)
    assert ended.status_code == 200 and ended.json()["is_active"] is False and ended.json()["ended_at"]
    assert (await client.post(f"{carers}/{created['id']}/end", headers=head)).status_code == 409
    listed = (await client.get(carers, headers=head)).json()["items"]
    assert [(c["id"], c["is_active"]) for c in listed] == [(created["id"], False)]  # kept
    active = await client.get(carers, params={"active": "true"}, headers=head)
    assert active.json()["items"] == []
    relinked = await link(client, tokens, school, pupil["id"], mum["id"], parental_responsibility=False)
    assert relinked["id"] != created["id"]


async def test_a_carer_must_be_a_parent_of_the_same_school(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    pupil = await make_person(client, tokens, school)
    teacher = await make_person(client, tokens, school, kind="staff")
    sibling = await make_person(client, tokens, school)
    stranger = await make_person(client, tokens, other, kind="parent")
    carers = f"{PEOPLE}/{pupil['id']}/carers"
    head = staff(tokens, school)

    def body(carer: dict) -> dict:
        return {"carer_id": carer["id"], "relationship": "aunt", "parental_responsibility": False}

    assert (await client.post(carers, json=body(teacher), headers=head)).status_code == 422
    assert (await client.post(carers, json=body(sibling), headers=head)).status_code == 422
    assert (await client.post(carers, json=body(stranger), headers=head)).status_code == 404
    extra = {**body(teacher), "is_active": False}
    assert (await client.post(carers, json=extra, headers=head)).status_code == 422
    # A pupil of another school: its carers are not found either.
    their_pupil = await make_person(client, tokens, other)
    their_parent = stranger
    theirs = await link(client, tokens, other, their_pupil["id"], their_parent["id"])
    their_carers = f"{PEOPLE}/{their_pupil['id']}/carers"
    assert (await client.get(their_carers, headers=head)).status_code == 404
    assert (await client.post(f"{their_carers}/{theirs['id']}/end", headers=head)).status_code == 404
    # A link id under the wrong pupil is not found.
    dad = await make_person(client, tokens, school, kind="parent")
    ours = await link(client, tokens, school, pupil["id"], dad["id"])
    wrong_pupil = f"{PEOPLE}/{sibling['id']}/carers/{ours['id']}/end"
    assert (await client.post(wrong_pupil, headers=head)).status_code == 404
    # A carer cannot be linked "to" a parent.
    another_parent = await make_person(client, tokens, other, kind="parent")
    parent_url = f"{PEOPLE}/{their_parent['id']}/carers"
    response = await client.post(parent_url, json=body(another_parent), headers=staff(tokens, other))
    assert response.status_code == 422


async def test_teachers_read_but_do_not_change_carers(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    school = await make_school(client, tokens)
    pupil = await make_person(client, tokens, school)
    mum = await make_person(client, tokens, school, kind="parent")
    teacher = tokens.headers(scopes=scopes_for_roles(["teacher"]), roles=["teacher"], school_id=school)
    carers = f"{PEOPLE}/{pupil['id']}/carers"
    assert (await client.get(carers, headers=teacher)).status_code == 200
    body = {"carer_id": mum["id"], "relationship": "mother", "parental_responsibility": True}
    assert (await client.post(carers, json=body, headers=teacher)).status_code == 403


async def test_a_leavers_accounts_stop_working(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    school = await make_school(client, tokens)
    teacher = await make_person(client, tokens, school, kind="staff")
    head = staff(tokens, school)
    account = await client.post(
        "/v1/identity/users",
        json={
            "person_id": teacher["id"],
            "username": "t.leaver",
            "password": "correct horse battery staple 42",
            "roles": ["teacher"],
        },
        headers=head,
    )
    assert account.status_code == 201, account.text
    assert (await client.post(f"{PEOPLE}/{teacher['id']}/leave", headers=head)).status_code == 200
    after = await client.get(f"/v1/identity/users/{account.json()['id']}", headers=head)
    assert after.json()["is_active"] is False
