"""A parent signed in sees and changes only their own children's consent."""

from __future__ import annotations

import httpx

from tests.media_consent.conftest import BASE, record_consent
from tests.world import School

GRANTS = {"grants": [{"purpose": "mle", "media_type": "photo", "level": "individual"}]}


async def test_a_parent_gives_and_withdraws_consent_for_their_child(
    client: httpx.AsyncClient, school: School
) -> None:
    amy = await school.add_pupil()
    mum = await school.add_carer(amy)
    parent = school.headers("parent", person_id=mum)
    response = await client.post(f"{BASE}/children/{amy}/records", json=GRANTS, headers=parent)
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert (version["source"], version["given_by"], version["form_dated_on"]) == ("parent", str(mum), None)
    mine = await client.get(f"{BASE}/children", headers=parent)
    assert [c["pupil_id"] for c in mine.json()] == [str(amy)]
    assert mine.headers["cache-control"] == "no-store"
    withdrawn = await client.post(f"{BASE}/children/{amy}/withdrawals", json={}, headers=parent)
    assert withdrawn.status_code == 201
    view = await client.get(f"{BASE}/children/{amy}", headers=parent)
    assert view.json()["current"]["withdrawn_purposes"] == [
        "mle",
        "display",
        "newsletter",
        "website",
        "prospectus",
        "social_media",
        "press",
    ]
    assert view.json()["never_publish"] is None


async def test_a_parent_cannot_touch_another_familys_child(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    amys_mum = await school.add_carer(amy)
    bens_dad = await school.add_carer(ben)
    await record_consent(client, school, ben, {"mle/photo": "individual"}, given_by=bens_dad)
    attacker = school.headers("parent", person_id=amys_mum)
    assert (await client.get(f"{BASE}/children/{ben}", headers=attacker)).status_code == 404
    assert (
        await client.post(f"{BASE}/children/{ben}/records", json=GRANTS, headers=attacker)
    ).status_code == 404
    assert (
        await client.post(f"{BASE}/children/{ben}/withdrawals", json={}, headers=attacker)
    ).status_code == 404
    # Not through the staff routes either.
    body = {"pupil_id": str(ben), "given_by": str(amys_mum), **GRANTS, "form_dated_on": "2026-09-01"}
    assert (await client.post(f"{BASE}/records", json=body, headers=attacker)).status_code == 403
    assert (await client.get(f"{BASE}/pupils/{ben}", headers=attacker)).status_code == 403
    # A body naming someone else is refused, not silently used.
    assert (
        await client.post(
            f"{BASE}/children/{amy}/records", json={**GRANTS, "given_by": str(bens_dad)}, headers=attacker
        )
    ).status_code == 422
    view = await client.get(f"{BASE}/pupils/{ben}", headers=school.headers("office"))
    assert [v["version"] for v in view.json()["versions"]] == [1]


async def test_a_carer_without_parental_responsibility_is_not_a_parent_here(
    client: httpx.AsyncClient, school: School
) -> None:
    amy = await school.add_pupil()
    step = await school.add_carer(amy, parental_responsibility=False)
    headers = school.headers("parent", person_id=step)
    assert (await client.get(f"{BASE}/children/{amy}", headers=headers)).status_code == 404
    assert (await client.get(f"{BASE}/children", headers=headers)).json() == []


async def test_a_parent_of_another_school_sees_nothing(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    amy = await school.add_pupil()
    mum = await school.add_carer(amy)
    # The same person's token bound to another school does not reach this school's pupil.
    elsewhere = other_school.headers("parent", person_id=mum)
    assert (await client.get(f"{BASE}/children/{amy}", headers=elsewhere)).status_code == 404
