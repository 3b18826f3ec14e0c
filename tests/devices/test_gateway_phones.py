"""Phones through the gateway, with identity, the devices service and the gateway as real processes.

People are made through identity's API (the head teacher with an account, so the replica knows the
role) and reach the devices service through its people replica (`school.sync()`).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.platform import RunningPlatform, SchoolKit
from tests.world import upn, with_account

pytestmark = pytest.mark.processes

URL = "/v1/devices/phone-custody"
OFFICE_SCOPES = ["phones:read", "phones:write", "people:read"]


def office_system(school: SchoolKit) -> dict[str, str]:
    return school.client_headers(OFFICE_SCOPES, client_id=f"mis-{school.id[:8]}")


@pytest.fixture(scope="module")
def world(platform: RunningPlatform) -> dict[str, Any]:
    school = platform.new_school()
    pupil = school.pupil(year_group="5", external_ref=upn())
    carer = school.carer(pupil, parental_responsibility=True)
    grandparent = school.carer(pupil, parental_responsibility=False, relationship="grandparent")
    head = with_account(platform, school, "head_teacher")
    teacher = with_account(platform, school, "teacher")
    other = platform.new_school()
    other_pupil = other.pupil(year_group="4")
    school.sync()
    return {
        "school": school,
        "pupil": pupil,
        "carer": carer,
        "grandparent": grandparent,
        "head": head,
        "teacher": teacher,
        "other": other,
        "other_pupil": other_pupil,
    }


def register(platform: RunningPlatform, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = platform.gateway.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_full_life_of_a_daily_handin(platform: RunningPlatform, world: dict[str, Any]) -> None:
    school, mis = world["school"], office_system(world["school"])
    # The office system knows the pupil by their UPN and finds the id through identity.
    found = platform.gateway.get(
        "/v1/identity/people", params={"external_ref": world["pupil"]["external_ref"]}, headers=mis
    )
    assert found.status_code == 200, found.text
    [person] = found.json()["items"]
    assert person["id"] == world["pupil"]["id"]

    created = register(
        platform,
        mis,
        {
            "pupil_id": person["id"],
            "kind": "daily_handin",
            "description": "Black Motorola G54",
            "storage_location": "Reception, tray 3",
        },
    )
    assert created["status"] == "held"
    assert created["received_by"] == f"client:mis-{school.id[:8]}"
    held = platform.gateway.get(URL, params={"status": "held", "kind": "daily_handin"}, headers=mis).json()
    assert created["id"] in [r["id"] for r in held["items"]]
    eod = platform.gateway.get(f"{URL}/end-of-day", headers=mis).json()
    assert created["id"] in [r["id"] for r in eod["daily_handins_held"]]

    returned = platform.gateway.post(
        f"{URL}/{created['id']}/return", json={"to_person_id": person["id"]}, headers=mis
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "returned"
    assert [e["kind"] for e in returned.json()["events"]] == ["received", "returned"]
    again = platform.gateway.post(
        f"{URL}/{created['id']}/return", json={"to_person_id": person["id"]}, headers=mis
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["request_id"] == again.headers["x-request-id"]
    eod = platform.gateway.get(f"{URL}/end-of-day", headers=mis).json()
    assert created["id"] not in [r["id"] for r in eod["daily_handins_held"]]


def test_the_full_life_of_a_confiscation(platform: RunningPlatform, world: dict[str, Any]) -> None:
    school = world["school"]
    created = register(
        platform,
        school.headers("teacher", person_id=world["teacher"]),
        {
            "pupil_id": world["pupil"]["id"],
            "kind": "confiscation",
            "description": "iPhone 12, green case",
            "storage_location": "Office safe",
            "reason": "Filming in the changing rooms",
        },
    )
    dsl = school.headers("safeguarding_lead")
    search = platform.gateway.post(
        f"{URL}/{created['id']}/searches",
        json={
            "authorised_by": world["head"],
            "reason": "Reasonable suspicion of images of pupils",
            "outcome": "content_deleted",
            "findings": "One video deleted in the head's presence.",
        },
        headers=dsl,
    )
    assert search.status_code == 201, search.text
    moved = platform.gateway.post(
        f"{URL}/{created['id']}/moves",
        json={"storage_location": "Head's office"},
        headers=school.headers("office"),
    )
    assert moved.status_code == 200
    released = platform.gateway.post(
        f"{URL}/{created['id']}/return",
        json={"to_person_id": world["carer"]["id"]},
        headers=office_system(school),
    )
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    # The office sees the chain without the search; the head sees the search in it too.
    assert [e["kind"] for e in released.json()["events"]] == ["received", "moved", "released"]
    full = platform.gateway.get(
        f"{URL}/{created['id']}", headers=school.headers("head_teacher", person_id=world["head"])
    )
    assert [e["kind"] for e in full.json()["events"]] == ["received", "searched", "moved", "released"]


def test_a_release_to_a_non_carer_is_refused(platform: RunningPlatform, world: dict[str, Any]) -> None:
    mis = office_system(world["school"])
    created = register(
        platform,
        mis,
        {
            "pupil_id": world["pupil"]["id"],
            "kind": "confiscation",
            "description": "Nokia",
            "storage_location": "Office safe",
            "reason": "Used in an exam",
        },
    )
    for person in (world["grandparent"]["id"], world["pupil"]["id"], world["teacher"]):
        refused = platform.gateway.post(
            f"{URL}/{created['id']}/return", json={"to_person_id": person}, headers=mis
        )
        assert refused.status_code == 422, refused.text
        assert "parental responsibility" in refused.json()["detail"]
    still = platform.gateway.get(f"{URL}/{created['id']}", headers=mis).json()
    assert still["status"] == "held"
    assert [e["kind"] for e in still["events"]] == ["received"]


def test_a_search_authorised_by_a_teacher_is_refused(
    platform: RunningPlatform, world: dict[str, Any]
) -> None:
    school = world["school"]
    created = register(
        platform,
        office_system(school),
        {
            "pupil_id": world["pupil"]["id"],
            "kind": "confiscation",
            "description": "Samsung",
            "storage_location": "Office safe",
            "reason": "Bullying messages reported",
        },
    )
    refused = platform.gateway.post(
        f"{URL}/{created['id']}/searches",
        json={"authorised_by": world["teacher"], "reason": "Suspicion", "outcome": "nothing_found"},
        headers=school.headers("head_teacher", person_id=world["head"]),
    )
    assert refused.status_code == 422
    assert "head teacher" in refused.json()["detail"]
    searches = platform.gateway.get(
        f"{URL}/{created['id']}/searches", headers=school.headers("head_teacher", person_id=world["head"])
    )
    assert searches.json() == []


def test_another_schools_phone_is_404(platform: RunningPlatform, world: dict[str, Any]) -> None:
    school, other = world["school"], world["other"]
    created = register(
        platform,
        office_system(school),
        {
            "pupil_id": world["pupil"]["id"],
            "kind": "daily_handin",
            "description": "Pixel 7",
            "storage_location": "Reception",
        },
    )
    theirs = office_system(other)
    assert platform.gateway.get(f"{URL}/{created['id']}", headers=theirs).status_code == 404
    stolen = platform.gateway.post(
        f"{URL}/{created['id']}/return", json={"to_person_id": world["other_pupil"]["id"]}, headers=theirs
    )
    assert stolen.status_code == 404
    assert platform.gateway.get(URL, headers=theirs).json()["items"] == []
    # Nor can another school register a phone against this school's pupil.
    crossed = platform.gateway.post(
        URL,
        json={
            "pupil_id": world["pupil"]["id"],
            "kind": "daily_handin",
            "description": "x",
            "storage_location": "y",
        },
        headers=theirs,
    )
    assert crossed.status_code == 422


def test_an_idempotent_retry_registers_one_phone(platform: RunningPlatform, world: dict[str, Any]) -> None:
    school = world["school"]
    headers = {**office_system(school), "Idempotency-Key": f"mis-{uuid.uuid4()}"}
    body = {
        "pupil_id": world["pupil"]["id"],
        "kind": "daily_handin",
        "description": "Idempotent phone",
        "storage_location": "Reception",
    }
    first = platform.gateway.post(URL, json=body, headers=headers)
    second = platform.gateway.post(URL, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    listed = platform.gateway.get(
        URL, params={"pupil_id": world["pupil"]["id"], "limit": 500}, headers=headers
    )
    assert [r["description"] for r in listed.json()["items"]].count("Idempotent phone") == 1


def test_the_office_client_is_refused_on_inventory_routes(
    platform: RunningPlatform, world: dict[str, Any]
) -> None:
    mis = office_system(world["school"])
    for method, path in [
        ("GET", "/v1/devices/assets"),
        ("GET", "/v1/devices/assets/report.csv"),
        ("GET", "/v1/devices/assets/stale-scans"),
        ("GET", "/v1/devices/asset-loans"),
        ("GET", "/v1/devices/staff-devices"),
        ("POST", "/v1/devices/assets"),
        ("POST", "/v1/devices/staff-devices"),
    ]:
        response = platform.gateway.request(method, path, headers=mis, json={} if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.text)
    search = platform.gateway.get(f"{URL}/{uuid.uuid4()}/searches", headers=mis)
    assert search.status_code == 403
    # The computing lead reaches the same routes.
    lead = world["school"].headers("computing_lead")
    assert platform.gateway.get("/v1/devices/assets", headers=lead).status_code == 200
