"""The school's views: no consent yet, consents ending soon, a year group's group photo."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from media_consent.checks.models import ConsentCheck
from tests.media_consent.conftest import BASE, record_consent
from tests.world import School


async def test_pupils_without_consent(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    with_consent = await school.add_pupil("Amy", "Abbot")
    await record_consent(client, school, with_consent, {"mle/photo": "group"})
    missing = [await school.add_pupil("Ben", "Baker"), await school.add_pupil("Cat", "Cole", year_group="4")]
    await school.add_pupil("Lee", "Left", is_on_roll=False)
    await other_school.add_pupil("Olu", "Other")
    office = school.headers("office")
    first = await client.get(f"{BASE}/reports/missing", params={"limit": 1}, headers=office)
    assert first.status_code == 200
    assert [p["pupil_id"] for p in first.json()["items"]] == [str(missing[0])]
    assert 'rel="next"' in first.headers["link"]
    second = await client.get(
        f"{BASE}/reports/missing", params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=office
    )
    assert [p["pupil_id"] for p in second.json()["items"]] == [str(missing[1])]
    assert second.json()["next_cursor"] is None
    year4 = await client.get(f"{BASE}/reports/missing", params={"year_group": "4"}, headers=office)
    assert [p["given_name"] for p in year4.json()["items"]] == ["Cat"]
    assert (await client.get(f"{BASE}/reports/missing", headers=school.headers("mle"))).status_code == 403


async def test_consents_expiring_in_the_next_30_days(client: httpx.AsyncClient, school: School) -> None:
    soon = await school.add_pupil("Sue", "Soon")
    later = await school.add_pupil("Lia", "Later")
    open_ended = await school.add_pupil("Ola", "Open")
    await record_consent(client, school, soon, {"mle/photo": "group"}, valid_until="2026-09-30")
    await record_consent(client, school, later, {"mle/photo": "group"}, valid_until="2027-08-31")
    await record_consent(client, school, open_ended, {"mle/photo": "group"})
    response = await client.get(f"{BASE}/reports/expiring", headers=school.headers("head_teacher"))
    assert response.status_code == 200
    assert [(p["pupil_id"], p["valid_until"]) for p in response.json()["items"]] == [
        (str(soon), "2026-09-30")
    ]


async def test_a_teachers_group_photo_view(client: httpx.AsyncClient, school: School, app) -> None:
    yes = await school.add_pupil("Amy", "Able", year_group="3")
    no = await school.add_pupil("Ben", "Bare", year_group="3")
    flagged = await school.add_pupil("Cal", "Code", year_group="3")
    await school.add_pupil("Dan", "Diff", year_group="4")
    await record_consent(client, school, yes, {"website/photo": "group"})
    await record_consent(client, school, no, {"mle/photo": "group"})
    await record_consent(client, school, flagged, {"website/photo": "individual"})
    await client.put(f"{BASE}/pupils/{flagged}/never-publish", headers=school.headers("safeguarding_lead"))
    teacher = school.headers("teacher")
    response = await client.get(
        f"{BASE}/year-groups/3/group-photo", params={"purpose": "website"}, headers=teacher
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    rows = {p["given_name"]: (p["may_appear"], p["reason"]) for p in response.json()["pupils"]}
    assert rows == {"Amy": (True, None), "Ben": (False, "level_too_low"), "Cal": (False, "restricted")}
    async with app.state.sessionmaker() as session:
        sources = (await session.scalars(select(ConsentCheck.source))).all()
    assert sources == ["group_photo_view"]
    bad = await client.get(
        f"{BASE}/year-groups/13/group-photo", params={"purpose": "website"}, headers=teacher
    )
    assert bad.status_code == 422
