"""Pupil phones: daily hand-ins and confiscations, their chain of custody, returns and searches."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from servicekit.clock import FrozenClock
from tests.world import School

URL = "/v1/devices/phone-custody"


def handin(world: School, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "pupil_id": str(world.pupils[0]),
        "kind": "daily_handin",
        "description": "Blue Samsung A15, cracked case",
        "storage_location": "Reception drawer 2",
    }
    body.update(overrides)
    return body


def confiscation(world: School, **overrides: object) -> dict[str, object]:
    return handin(
        world,
        kind="confiscation",
        reason="Used to film other pupils in the toilets",
        storage_location="Office safe",
        **overrides,
    )


async def register(
    client: httpx.AsyncClient, world: School, body: dict[str, object], role: str = "office"
) -> dict:
    response = await client.post(URL, json=body, headers=world.headers(role))
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_life_of_a_daily_handin(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    created = await register(client, school, handin(school))
    assert created["status"] == "held"
    assert created["received_by"] == str(school.staff["office"])
    assert created["received_at"] == "2026-09-07T08:30:00Z"
    assert [e["kind"] for e in created["events"]] == ["received"]
    assert created["events"][0]["location"] == "Reception drawer 2"
    # The answer is the record as stored.
    stored = await client.get(f"{URL}/{created['id']}", headers=school.headers("office"))
    assert stored.json() == created

    clock.advance(hours=2)
    moved = await client.post(
        f"{URL}/{created['id']}/moves",
        json={"storage_location": "Office safe"},
        headers=school.headers("office"),
    )
    assert moved.status_code == 200
    assert moved.json()["storage_location"] == "Office safe"

    listed = await client.get(
        URL, params={"received_on": "2026-09-07", "status": "held"}, headers=school.headers("office")
    )
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    assert (
        await client.get(URL, params={"received_on": "2026-09-06"}, headers=school.headers("office"))
    ).json()["items"] == []

    clock.advance(hours=4)
    eod = (await client.get(f"{URL}/end-of-day", headers=school.headers("office"))).json()
    assert [r["id"] for r in eod["daily_handins_held"]] == [created["id"]]

    returned = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.pupils[0])},
        headers=school.headers("office"),
    )
    assert returned.status_code == 200, returned.text
    record = returned.json()
    assert record["status"] == "returned"
    assert record["closed_to_person_id"] == str(school.pupils[0])
    events = record["events"]
    assert [e["kind"] for e in events] == ["received", "moved", "returned"]
    assert [e["at"] for e in events] == [
        "2026-09-07T08:30:00Z",
        "2026-09-07T10:30:00Z",
        "2026-09-07T14:30:00Z",
    ]
    assert events[1]["location"] == "Office safe"
    assert events[2]["to_person_id"] == str(school.pupils[0])
    assert all(e["by"] == str(school.staff["office"]) for e in events)

    again = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.pupils[0])},
        headers=school.headers("office"),
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    eod = (await client.get(f"{URL}/end-of-day", headers=school.headers("office"))).json()
    assert eod["daily_handins_held"] == []
    fetched = (await client.get(f"{URL}/{created['id']}", headers=school.headers("office"))).json()
    assert [e["kind"] for e in fetched["events"]] == ["received", "moved", "returned"]


async def test_a_daily_handin_goes_to_a_carer_but_not_to_another_pupil(
    client: httpx.AsyncClient, school: School
) -> None:
    created = await register(client, school, handin(school))
    refused = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.pupils[1])},
        headers=school.headers("office"),
    )
    assert refused.status_code == 422
    assert "its pupil or one of the pupil's carers" in refused.json()["detail"]
    ok = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.carers[1])},
        headers=school.headers("office"),
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "returned"


async def test_the_life_of_a_confiscation(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    created = await register(client, school, confiscation(school), role="teacher")
    assert created["kind"] == "confiscation"
    assert created["reason"] == "Used to film other pupils in the toilets"

    clock.advance(days=4)
    eod = (
        await client.get(
            f"{URL}/end-of-day", params={"confiscation_days": 3}, headers=school.headers("office")
        )
    ).json()
    assert [r["id"] for r in eod["confiscations_held_over"]] == [created["id"]]
    eod = (
        await client.get(
            f"{URL}/end-of-day", params={"confiscation_days": 5}, headers=school.headers("office")
        )
    ).json()
    assert eod["confiscations_held_over"] == []

    for not_allowed in (school.pupils[0], school.carers[1], school.staff["teacher"], uuid.uuid4()):
        refused = await client.post(
            f"{URL}/{created['id']}/return",
            json={"to_person_id": str(not_allowed)},
            headers=school.headers("office"),
        )
        assert refused.status_code == 422, not_allowed
        assert "carer with parental responsibility" in refused.json()["detail"]

    released = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.carers[0])},
        headers=school.headers("office"),
    )
    assert released.status_code == 200
    body = released.json()
    assert body["status"] == "released"
    assert [e["kind"] for e in body["events"]] == ["received", "released"]
    assert body["events"][-1]["to_person_id"] == str(school.carers[0])
    held = (await client.get(URL, params={"status": "held"}, headers=school.headers("office"))).json()[
        "items"
    ]
    assert held == []


async def test_a_confiscation_needs_a_reason(client: httpx.AsyncClient, school: School) -> None:
    body = handin(school, kind="confiscation")
    response = await client.post(URL, json=body, headers=school.headers("office"))
    assert response.status_code == 422
    response = await client.post(URL, json={**body, "reason": "   "}, headers=school.headers("office"))
    assert response.status_code == 422
    assert (await client.get(URL, headers=school.headers("office"))).json()["items"] == []


async def test_only_a_pupil_of_the_school_on_roll(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    for pupil in (other_school.pupils[0], school.carers[0], uuid.uuid4()):
        response = await client.post(
            URL, json=handin(school, pupil_id=str(pupil)), headers=school.headers("office")
        )
        assert response.status_code == 422
        assert response.json()["type"].endswith("not-a-pupil")


async def test_bad_input_is_refused_and_changes_nothing(client: httpx.AsyncClient, school: School) -> None:
    cases = [
        handin(school, school_id=str(school.id)),
        handin(school, status="returned"),
        handin(school, kind="lost_property"),
        handin(school, description="x" * 501),
        handin(school, storage_location=""),
        handin(school, pupil_id="not-a-uuid"),
    ]
    for body in cases:
        response = await client.post(URL, json=body, headers=school.headers("office"))
        assert response.status_code == 422, body
        assert response.json()["errors"]
    assert (await client.get(URL, headers=school.headers("office"))).json()["items"] == []


async def test_a_search_authorised_by_a_teacher_is_refused(client: httpx.AsyncClient, school: School) -> None:
    created = await register(client, school, confiscation(school))
    search = {
        "authorised_by": str(school.staff["teacher"]),
        "reason": "Reasonable suspicion of images of pupils",
        "outcome": "nothing_found",
    }
    refused = await client.post(
        f"{URL}/{created['id']}/searches", json=search, headers=school.headers("safeguarding_lead")
    )
    assert refused.status_code == 422
    assert "head teacher" in refused.json()["detail"]
    # Nor may a teacher (or the office) record a search, whoever authorised it.
    search["authorised_by"] = str(school.staff["head_teacher"])
    for role in ("teacher", "office", "computing_lead"):
        response = await client.post(
            f"{URL}/{created['id']}/searches", json=search, headers=school.headers(role)
        )
        assert response.status_code == 403, role
    office_client = await client.post(
        f"{URL}/{created['id']}/searches", json=search, headers=school.headers("office_system")
    )
    assert office_client.status_code == 403
    record = (await client.get(f"{URL}/{created['id']}", headers=school.headers("head_teacher"))).json()
    assert [e["kind"] for e in record["events"]] == ["received"]


async def test_a_search_is_recorded_and_seen_only_by_the_head_and_dsl(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    created = await register(client, school, confiscation(school))
    search = {
        "authorised_by": str(school.staff["head_teacher"]),
        "reason": "Reasonable suspicion of images of pupils",
        "outcome": "content_deleted",
        "findings": "Two photographs of pupils in the toilets, deleted in the head's presence.",
    }
    # A head teacher of another school does not count.
    other_head = {**search, "authorised_by": str(other_school.staff["head_teacher"])}
    dsl = school.headers("safeguarding_lead")
    assert (
        await client.post(f"{URL}/{created['id']}/searches", json=other_head, headers=dsl)
    ).status_code == 422

    recorded = await client.post(f"{URL}/{created['id']}/searches", json=search, headers=dsl)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["outcome"] == "content_deleted"
    assert recorded.json()["searched_by"] == str(school.staff["safeguarding_lead"])

    for role in ("head_teacher", "safeguarding_lead"):
        searches = await client.get(f"{URL}/{created['id']}/searches", headers=school.headers(role))
        assert searches.status_code == 200
        assert [s["findings"] for s in searches.json()] == [search["findings"]]
        record = (await client.get(f"{URL}/{created['id']}", headers=school.headers(role))).json()
        assert [e["kind"] for e in record["events"]] == ["received", "searched"]

    for headers in (school.headers("office"), school.headers("teacher"), school.headers("office_system")):
        assert (await client.get(f"{URL}/{created['id']}/searches", headers=headers)).status_code == 403
        record = (await client.get(f"{URL}/{created['id']}", headers=headers)).json()
        assert [e["kind"] for e in record["events"]] == ["received"]
        assert "Two photographs" not in str(record)
        listed = (await client.get(URL, headers=headers)).json()["items"]
        assert [e["kind"] for e in listed[0]["events"]] == ["received"]


async def test_no_search_of_a_phone_that_is_not_held(client: httpx.AsyncClient, school: School) -> None:
    created = await register(client, school, confiscation(school))
    released = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.carers[0])},
        headers=school.headers("office"),
    )
    assert released.status_code == 200
    search = {
        "authorised_by": str(school.staff["head_teacher"]),
        "reason": "Late report",
        "outcome": "nothing_found",
    }
    response = await client.post(
        f"{URL}/{created['id']}/searches", json=search, headers=school.headers("head_teacher")
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("phone-not-held")


async def test_handed_to_the_police(client: httpx.AsyncClient, school: School) -> None:
    created = await register(client, school, confiscation(school))
    head = school.headers("head_teacher")
    handover = {"officer_name": "PC 1234 Jones", "police_reference": "MPS-2026-0042"}
    assert (
        await client.post(
            f"{URL}/{created['id']}/police-handover", json=handover, headers=school.headers("office")
        )
    ).status_code == 403
    response = await client.post(f"{URL}/{created['id']}/police-handover", json=handover, headers=head)
    assert response.status_code == 200
    assert response.json()["status"] == "handed_to_police"
    assert "MPS-2026-0042" in response.json()["events"][-1]["note"]
    again = await client.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": str(school.carers[0])},
        headers=school.headers("office"),
    )
    assert again.status_code == 409


async def test_another_schools_phone_is_404(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    created = await register(client, school, confiscation(school))
    theirs = other_school.headers("head_teacher")
    search = {
        "authorised_by": str(other_school.staff["head_teacher"]),
        "reason": "x",
        "outcome": "nothing_found",
    }
    attempts = [
        client.get(f"{URL}/{created['id']}", headers=theirs),
        client.get(f"{URL}/{created['id']}/searches", headers=theirs),
        client.post(
            f"{URL}/{created['id']}/return",
            json={"to_person_id": str(other_school.carers[0])},
            headers=theirs,
        ),
        client.post(f"{URL}/{created['id']}/moves", json={"storage_location": "Bin"}, headers=theirs),
        client.post(f"{URL}/{created['id']}/searches", json=search, headers=theirs),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 404
    assert (await client.get(URL, headers=theirs)).json()["items"] == []
    assert (await client.get(URL, params={"pupil_id": str(school.pupils[0])}, headers=theirs)).json()[
        "items"
    ] == []
    mine = (await client.get(f"{URL}/{created['id']}", headers=school.headers("office"))).json()
    assert mine["status"] == "held"


async def test_an_idempotent_retry_registers_one_phone(client: httpx.AsyncClient, school: School) -> None:
    headers = {**school.headers("office_system"), "Idempotency-Key": "mis-handin-7781"}
    first = await client.post(URL, json=handin(school), headers=headers)
    second = await client.post(URL, json=handin(school), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other_body = await client.post(URL, json=handin(school, description="Red iPhone"), headers=headers)
    assert other_body.status_code == 422
    listed = (await client.get(URL, headers=school.headers("office_system"))).json()["items"]
    assert len(listed) == 1


async def test_a_retried_return_replays_instead_of_conflicting(
    client: httpx.AsyncClient, school: School
) -> None:
    created = await register(client, school, handin(school))
    headers = {**school.headers("office_system"), "Idempotency-Key": "mis-return-1"}
    body = {"to_person_id": str(school.pupils[0])}
    first = await client.post(f"{URL}/{created['id']}/return", json=body, headers=headers)
    second = await client.post(f"{URL}/{created['id']}/return", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    record = (await client.get(f"{URL}/{created['id']}", headers=headers)).json()
    assert [e["kind"] for e in record["events"]] == ["received", "returned"]


async def test_the_office_client_does_what_the_office_needs_and_nothing_else(
    client: httpx.AsyncClient, school: School
) -> None:
    mis = school.headers("office_system")
    created = await client.post(URL, json=handin(school), headers=mis)
    assert created.status_code == 201
    assert created.json()["received_by"].startswith("client:mis-")
    assert (await client.get(URL, headers=mis)).status_code == 200
    assert (await client.get(f"{URL}/end-of-day", headers=mis)).status_code == 200
    inventory = [
        client.get("/v1/devices/assets", headers=mis),
        client.get("/v1/devices/assets/report.csv", headers=mis),
        client.get("/v1/devices/asset-loans", headers=mis),
        client.get("/v1/devices/staff-devices", headers=mis),
        client.post(
            "/v1/devices/assets",
            json={
                "asset_tag": "X1",
                "kind": "laptop",
                "make": "Dell",
                "model": "L",
                "location": "ICT",
                "holds_personal_data": False,
                "is_encrypted": False,
            },
            headers=mis,
        ),
    ]
    for attempt in inventory:
        response = await attempt
        assert response.status_code == 403
        assert "insufficient_scope" in response.headers["www-authenticate"]


async def test_phones_need_a_token_with_the_right_scope(client: httpx.AsyncClient, school: School) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers={"Authorization": "Bearer nonsense"})).status_code == 401
    for role in ("parent", "governor", "pupil"):
        assert (await client.get(URL, headers=school.headers(role))).status_code == 403, role
    la = school.tokens.headers(scopes=["phones:read"], client_id="la-202", la_code="202")
    assert (await client.get(URL, headers=la)).status_code == 403


async def test_a_stale_etag_changes_nothing(client: httpx.AsyncClient, school: School) -> None:
    created = await client.post(URL, json=handin(school), headers=school.headers("office"))
    tag = created.headers["ETag"]
    moved = await client.post(
        f"{URL}/{created.json()['id']}/moves",
        json={"storage_location": "Office"},
        headers={**school.headers("office"), "If-Match": tag},
    )
    assert moved.status_code == 200
    stale = await client.post(
        f"{URL}/{created.json()['id']}/return",
        json={"to_person_id": str(school.pupils[0])},
        headers={**school.headers("office"), "If-Match": tag},
    )
    assert stale.status_code == 412
    record = (await client.get(f"{URL}/{created.json()['id']}", headers=school.headers("office"))).json()
    assert record["status"] == "held"


async def test_lists_page_with_a_cursor(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    ids = []
    for _ in range(3):
        ids.append((await register(client, school, handin(school)))["id"])
        clock.advance(timedelta(minutes=1))
    first = await client.get(URL, params={"limit": 2}, headers=school.headers("office"))
    assert 'rel="next"' in first.headers["link"]
    second = await client.get(
        URL, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=school.headers("office")
    )
    assert [r["id"] for r in first.json()["items"] + second.json()["items"]] == ids
    assert second.json()["next_cursor"] is None
    assert (
        await client.get(URL, params={"cursor": "garbage!"}, headers=school.headers("office"))
    ).status_code == 422
