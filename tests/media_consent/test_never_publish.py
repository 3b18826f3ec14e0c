"""The never-publish flag: every check denies with `restricted`; only the DSL and the head see it."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from servicekit.models import AuditEntry
from tests.media_consent.conftest import BASE, record_consent
from tests.media_consent.test_checks import ALL_INDIVIDUAL, check, reasons
from tests.world import School


async def test_never_publish_denies_whatever_the_consent(
    client: httpx.AsyncClient, school: School, app
) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    for pupil in (amy, ben):
        await record_consent(client, school, pupil, ALL_INDIVIDUAL)
    dsl = school.headers("safeguarding_lead")
    response = await client.put(f"{BASE}/pupils/{amy}/never-publish", headers=dsl)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is True
    for purpose in ("mle", "website", "newsletter"):
        result = await check(client, school, [amy, ben], purpose=purpose)
        assert result["decision"] == "deny"
        assert reasons(result) == {str(amy): "restricted", str(ben): None}
    # A new consent form does not lift it.
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    assert reasons(await check(client, school, [amy])) == {str(amy): "restricted"}

    head = school.headers("head_teacher")
    cleared = await client.delete(f"{BASE}/pupils/{amy}/never-publish", headers=head)
    assert cleared.status_code == 200
    assert cleared.json()["is_active"] is False
    assert (await check(client, school, [amy]))["decision"] == "allow"
    async with app.state.sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.target_id == str(amy), AuditEntry.action.like("consent.never_publish%")
                )
            )
        ).all()
    assert sorted(actions) == ["consent.never_publish.cleared", "consent.never_publish.set"]


async def test_only_the_dsl_and_the_head_see_or_set_the_flag(
    client: httpx.AsyncClient, school: School
) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    await client.put(f"{BASE}/pupils/{amy}/never-publish", headers=school.headers("head_teacher"))
    for role in ("office", "teacher", "computing_lead", "governor"):
        headers = school.headers(role)
        for method in ("GET", "PUT", "DELETE"):
            response = await client.request(method, f"{BASE}/pupils/{amy}/never-publish", headers=headers)
            assert response.status_code == 403, (role, method)
        assert (await client.get(f"{BASE}/never-publish", headers=headers)).status_code == 403
    # A token with the scope but without the role (a client) is refused too.
    forged = school.tokens.headers(scopes=["consent:restrict"], client_id="mle", school_id=school.id)
    assert (await client.get(f"{BASE}/pupils/{amy}/never-publish", headers=forged)).status_code == 403
    office_view = await client.get(f"{BASE}/pupils/{amy}", headers=school.headers("office"))
    assert office_view.json()["never_publish"] is None
    parent_view = await client.get(
        f"{BASE}/children", headers=school.headers("parent", person_id=await school.add_carer(amy))
    )
    assert parent_view.json()[0]["never_publish"] is None
    dsl = school.headers("safeguarding_lead")
    assert (await client.get(f"{BASE}/pupils/{amy}", headers=dsl)).json()["never_publish"] is True
    listed = await client.get(f"{BASE}/never-publish", headers=dsl)
    assert [p["pupil_id"] for p in listed.json()] == [str(amy)]


async def test_the_flag_of_another_schools_pupil_is_not_found(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    theirs = await other_school.add_pupil()
    dsl = school.headers("safeguarding_lead")
    assert (await client.put(f"{BASE}/pupils/{theirs}/never-publish", headers=dsl)).status_code == 404


async def test_setting_the_flag_tells_the_mle_to_recheck(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    await client.put(f"{BASE}/pupils/{amy}/never-publish", headers=school.headers("safeguarding_lead"))
    feed = await client.get(f"{BASE}/changes", headers=school.headers("mle"))
    assert [(c["pupil_id"], c["kind"]) for c in feed.json()["items"]] == [
        (str(amy), "recorded"),
        (str(amy), "restricted"),
    ]
