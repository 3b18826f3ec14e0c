"""The consent check: every deny reason, groups, the name rules, withdrawals, leavers, the record."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select, update

from media_consent.checks.models import ConsentCheck
from media_consent.checks.schemas import ConsentCheckRead
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaPerson
from tests.media_consent.conftest import BASE, record_consent
from tests.world import School

ALL_INDIVIDUAL = {"website/photo": "individual", "mle/photo": "individual", "newsletter/photo": "individual"}


async def check(
    client: httpx.AsyncClient, school: School, pupil_ids: list[uuid.UUID], **kwargs: object
) -> dict:
    body = {
        "purpose": "website",
        "media_type": "photo",
        "framing": "group",
        "pupil_ids": [str(p) for p in pupil_ids],
        **kwargs,
    }
    response = await client.post(f"{BASE}/checks", json=body, headers=school.headers("mle"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    # The answer is written by hand on the hot path: it must still be what the OpenAPI promises.
    ConsentCheckRead.model_validate_json(response.content, strict=True)
    return response.json()


def reasons(result: dict) -> dict[str, str | None]:
    return {r["pupil_id"]: r["reason"] for r in result["results"]}


async def test_a_consented_pupil_is_allowed(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil("Amy", "Khan")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    result = await check(client, school, [amy], framing="individual")
    assert result["decision"] == "allow"
    assert result["results"] == [{"pupil_id": str(amy), "decision": "allow", "reason": None}]
    assert result["checked_at"] == "2026-09-07T08:30:00Z"
    assert result["receipt"].count(".") == 2


async def test_every_deny_reason(
    client: httpx.AsyncClient, school: School, other_school: School, clock: FrozenClock
) -> None:
    unknown = uuid.uuid4()
    foreign = await other_school.add_pupil("Olu", "Ade")
    await record_consent(client, other_school, foreign, ALL_INDIVIDUAL)
    leaver = await school.add_pupil("Lee", "Vance", is_on_roll=False)
    no_record = await school.add_pupil("Nia", "Roe")
    withdrawn = await school.add_pupil("Wes", "Dunn")
    carer = await school.add_carer(withdrawn)
    await record_consent(client, school, withdrawn, ALL_INDIVIDUAL, given_by=carer)
    response = await client.post(
        f"{BASE}/pupils/{withdrawn}/withdrawals",
        json={"given_by": str(carer), "purposes": ["website"]},
        headers=school.headers("office"),
    )
    assert response.status_code == 201, response.text
    expired = await school.add_pupil("Eve", "Hart")
    await record_consent(client, school, expired, ALL_INDIVIDUAL, valid_until="2026-09-30")
    low = await school.add_pupil("Lou", "Park")
    await record_consent(client, school, low, {"website/photo": "group"})
    none_for_purpose = await school.add_pupil("Ned", "Fry")
    await record_consent(client, school, none_for_purpose, {"mle/photo": "individual"})
    clock.advance(days=30)  # now 2026-10-07: Eve's consent ended on 30 September

    ids = [unknown, foreign, leaver, no_record, withdrawn, expired, low, none_for_purpose]
    result = await check(client, school, ids, framing="individual")
    assert result["decision"] == "deny"
    assert reasons(result) == {
        str(unknown): "unknown_pupil",
        # Another school's pupil looks exactly like one that does not exist (no cross-school oracle).
        str(foreign): "unknown_pupil",
        str(leaver): "not_on_roll",
        str(no_record): "no_record",
        str(withdrawn): "withdrawn",
        str(expired): "expired",
        str(low): "level_too_low",
        str(none_for_purpose): "level_too_low",
    }
    assert all(r["decision"] == "deny" for r in result["results"])


async def test_a_group_with_one_refusing_pupil_is_denied(client: httpx.AsyncClient, school: School) -> None:
    class_ids = []
    for n in range(29):
        pupil = await school.add_pupil(f"Kid{n}", "Group")
        await record_consent(client, school, pupil, {"website/photo": "group"})
        class_ids.append(pupil)
    refuser = await school.add_pupil("Ray", "Nolan")
    await record_consent(client, school, refuser, {"website/photo": "none", "mle/photo": "group"})
    allowed = await check(client, school, class_ids)
    assert allowed["decision"] == "allow"
    result = await check(client, school, [*class_ids, refuser])
    assert result["decision"] == "deny"
    denied = [r for r in result["results"] if r["decision"] == "deny"]
    assert denied == [{"pupil_id": str(refuser), "decision": "deny", "reason": "level_too_low"}]
    # Group consent is not enough for a picture of one child alone.
    alone = await check(client, school, class_ids[:1], framing="individual")
    assert reasons(alone) == {str(class_ids[0]): "level_too_low"}


async def test_a_name_in_the_filename_is_denied(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil("Amy", "Khan")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    for filename in ("amy_sports_day.jpg", "sports-KHAN.jpg", "AmyKhan.JPG", "amykhan2.png", "IMG_khan.jpg"):
        result = await check(client, school, [amy], filename=filename)
        assert reasons(result) == {str(amy): "name_in_filename"}, filename
    for filename in ("IMG_0042.jpg", "sports_day_2026.jpg", "family.jpg"):
        result = await check(client, school, [amy], filename=filename)
        assert result["decision"] == "allow", filename


async def test_a_full_name_in_a_caption_is_denied_outside_school(
    client: httpx.AsyncClient, school: School
) -> None:
    zoe = await school.add_pupil("Zoë", "O'Brien")
    await record_consent(client, school, zoe, ALL_INDIVIDUAL)
    caption = "Well done to zoe o'brien for her painting!"
    outside = await check(client, school, [zoe], caption=caption)
    assert reasons(outside) == {str(zoe): "full_name_in_caption"}
    newsletter = await check(client, school, [zoe], caption=caption, purpose="newsletter")
    assert newsletter["decision"] == "deny"
    # The school's own platform is seen by the school community only: a full name is allowed there.
    inside = await check(client, school, [zoe], caption=caption, purpose="mle")
    assert inside["decision"] == "allow"
    # A given name alone is not a full name.
    given_only = await check(client, school, [zoe], caption="Zoë painted this")
    assert given_only["decision"] == "allow"


async def test_withdrawal_is_effective_for_the_next_check(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    await record_consent(client, school, amy, ALL_INDIVIDUAL, given_by=carer)
    assert (await check(client, school, [amy]))["decision"] == "allow"
    response = await client.post(
        f"{BASE}/pupils/{amy}/withdrawals",
        json={"given_by": str(carer)},
        headers=school.headers("office"),
    )
    assert response.status_code == 201
    for purpose in ("website", "mle", "newsletter"):
        result = await check(client, school, [amy], purpose=purpose)
        assert reasons(result) == {str(amy): "withdrawn"}, purpose


async def test_a_leaver_is_denied(client: httpx.AsyncClient, school: School, app) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    assert (await check(client, school, [amy]))["decision"] == "allow"
    async with app.state.sessionmaker() as session:
        await session.execute(update(ReplicaPerson).where(ReplicaPerson.id == amy).values(is_on_roll=False))
        await session.commit()
    assert reasons(await check(client, school, [amy])) == {str(amy): "not_on_roll"}


async def test_every_check_is_recorded(client: httpx.AsyncClient, school: School, app) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    result = await check(client, school, [amy, ben, amy])
    assert [r["pupil_id"] for r in result["results"]] == [str(amy), str(ben)]
    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(ConsentCheck))).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.actor.startswith("client:mle-")
    assert row.pupil_ids == [str(amy), str(ben)]
    assert (row.purpose, row.decision, row.school_id) == ("website", "deny", school.id)
    listed = await client.get(f"{BASE}/checks", headers=school.headers("head_teacher"))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [result["check_id"]]


async def test_bad_checks_are_refused(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    good = {"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [str(amy)]}
    for bad in (
        {**good, "pupil_ids": []},
        {**good, "pupil_ids": [str(uuid.uuid4()) for _ in range(201)]},
        {**good, "purpose": "billboard"},
        {**good, "framing": "crowd"},
        {**good, "pupil_ids": ["not-a-uuid"]},
        {**good, "school_id": str(uuid.uuid4())},
        {**good, "filename": "x" * 256},
    ):
        response = await client.post(f"{BASE}/checks", json=bad, headers=school.headers("mle"))
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    two_hundred = {**good, "pupil_ids": [str(uuid.uuid4()) for _ in range(200)]}
    response = await client.post(f"{BASE}/checks", json=two_hundred, headers=school.headers("mle"))
    assert response.status_code == 200
    assert response.json()["decision"] == "deny"


async def test_check_needs_the_check_scope(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    body = {"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [str(amy)]}
    assert (await client.post(f"{BASE}/checks", json=body)).status_code == 401
    parent = school.headers("parent", person_id=await school.add_carer(amy))
    assert (await client.post(f"{BASE}/checks", json=body, headers=parent)).status_code == 403
    teacher = school.headers("teacher")
    assert (await client.post(f"{BASE}/checks", json=body, headers=teacher)).status_code == 200
