"""The incident log through the gateway, with identity, the incidents service and the gateway running
as real processes: each visibility rule, another school's record, delete, stale ETags, the legal
hold, the evidence rule for sexting, and the LA export.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.processes


def _when(minutes_ago: int = 60) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def world(platform) -> dict[str, Any]:
    """Two schools of one LA and a third elsewhere, with pupils synced into the incidents replica."""
    # LA codes are three digits; random ones keep this LA's export apart from other tests' schools.
    rng = random.SystemRandom()
    la_code, other_la = (str(n) for n in rng.sample(range(600, 1000), 2))
    school = platform.new_school(la_code=la_code)
    sibling = platform.new_school(la_code=la_code)
    other = platform.new_school(la_code=other_la)
    pupils = [school.pupil(year_group=str(y)) for y in ("3", "5")]
    other_pupil = other.pupil(year_group="4")
    sibling_pupil = sibling.pupil(year_group="6")
    for kit in (school, other, sibling):
        for role in ("head_teacher", "safeguarding_lead", "teacher", "computing_lead", "governor"):
            kit.staff_person(role)
    school.sync()
    return {
        "la_code": la_code,
        "school": school,
        "sibling": sibling,
        "other": other,
        "pupils": pupils,
        "other_pupil": other_pupil,
        "sibling_pupil": sibling_pupil,
    }


def report(platform, kit, category: str, people: list[dict[str, str]], role: str = "teacher", **kw) -> dict:
    body = {
        "category": category,
        "severity": "medium",
        "occurred_at": _when(),
        "location": "on_site",
        "summary": f"{category} reported in a lesson",
        "people": people,
    }
    response = platform.gateway.post("/v1/incidents", json=body, headers=kit.headers(role, **kw))
    assert response.status_code == 201, response.text
    assert response.headers["ETag"]
    return response.json()


def get(platform, kit, incident_id: str, role: str, **kw) -> int:
    return platform.gateway.get(f"/v1/incidents/{incident_id}", headers=kit.headers(role, **kw)).status_code


def test_reporter_sees_own_and_leads_see_all(platform, world) -> None:
    school = world["school"]
    people = [{"person_id": world["pupils"][0]["id"], "role": "affected"}]
    mine = report(platform, school, "cyberbullying", people, role="teacher")
    theirs = report(platform, school, "misuse_of_ict", people, role="computing_lead")
    assert mine["reference"].startswith(f"ESI-{datetime.now(UTC).year}-")
    assert get(platform, school, mine["id"], "teacher") == 200
    assert get(platform, school, theirs["id"], "teacher") == 404
    for role in ("head_teacher", "safeguarding_lead"):
        assert get(platform, school, mine["id"], role) == 200
        assert get(platform, school, theirs["id"], role) == 200


def test_restricted_categories_only_for_the_lead_and_head(platform, world) -> None:
    school = world["school"]
    people = [{"person_id": world["pupils"][1]["id"], "role": "affected"}]
    for category in ("grooming", "sexting", "radicalisation", "self_harm_content"):
        created = report(platform, school, category, people, role="teacher")
        assert get(platform, school, created["id"], "teacher") == 404, category
        assert get(platform, school, created["id"], "computing_lead") == 404, category
        assert get(platform, school, created["id"], "safeguarding_lead") == 200, category
        assert get(platform, school, created["id"], "head_teacher") == 200, category


def test_allegation_against_staff_is_the_heads_alone(platform, world) -> None:
    school = world["school"]
    accused = school.staff_person("teacher")
    people = [{"person_id": accused, "role": "subject"}]
    created = report(platform, school, "allegation_against_staff", people, role="computing_lead")
    assert get(platform, school, created["id"], "head_teacher") == 200
    assert get(platform, school, created["id"], "safeguarding_lead") == 404
    assert get(platform, school, created["id"], "teacher") == 404  # the accused
    listed = platform.gateway.get("/v1/incidents", headers=school.headers("teacher")).json()
    assert created["id"] not in {i["id"] for i in listed["items"]}


def test_the_accused_head_sees_nothing_of_the_allegation_on_any_path(platform, world) -> None:
    """Through the gateway: the record, the list, the export (JSON and CSV), the counts and the
    audit log say nothing to the head of an allegation naming them; the LA's client gets it."""
    school = world["school"]
    head = school.headers("head_teacher")
    groupings: list[dict[str, Any]] = [{}, {"group_by": "category"}, {"group_by": "month,year_group"}]
    counts_before = [
        platform.gateway.get("/v1/incidents/stats", params=p, headers=head).json() for p in groupings
    ]
    people = [{"person_id": school.staff_person("head_teacher"), "role": "subject"}]
    created = report(platform, school, "allegation_against_staff", people, role="computing_lead")
    traces = (created["id"], created["reference"])
    assert get(platform, school, created["id"], "head_teacher") == 404
    listed = platform.gateway.get("/v1/incidents", params={"limit": 500}, headers=head)
    assert listed.status_code == 200 and not any(t in listed.text for t in traces)
    for fmt in ("json", "csv"):
        exported = platform.gateway.get("/v1/incidents/export", params={"format": fmt}, headers=head)
        assert exported.status_code == 200, exported.text
        assert not any(t in exported.text for t in traces), fmt
    counts_after = [
        platform.gateway.get("/v1/incidents/stats", params=p, headers=head).json() for p in groupings
    ]
    assert counts_after == counts_before
    log = platform.gateway.get("/v1/incidents/audit", params={"target_id": created["id"]}, headers=head)
    assert log.status_code == 200 and log.json()["items"] == []
    whole_log = platform.gateway.get("/v1/incidents/audit", params={"limit": 500}, headers=head)
    assert whole_log.status_code == 200 and not any(t in whole_log.text for t in traces)
    la = platform.la_headers(world["la_code"], ["incidents:export", "incidents:stats"])
    assert created["id"] in platform.gateway.get("/v1/incidents/export", headers=la).text


def test_governors_get_counts_only_and_the_la_gets_export_and_counts(platform, world) -> None:
    school = world["school"]
    people = [{"person_id": world["pupils"][0]["id"], "role": "affected"}]
    created = report(platform, school, "cyberbullying", people)
    governor = school.headers("governor")
    assert platform.gateway.get("/v1/incidents", headers=governor).status_code == 403
    assert platform.gateway.get(f"/v1/incidents/{created['id']}", headers=governor).status_code == 403
    assert platform.gateway.get("/v1/incidents/export", headers=governor).status_code == 403
    stats = platform.gateway.get("/v1/incidents/stats", params={"group_by": "category"}, headers=governor)
    assert stats.status_code == 200
    assert stats.json()["total"] >= 1
    la = platform.la_headers(world["la_code"], ["incidents:export", "incidents:stats"])
    assert platform.gateway.get(f"/v1/incidents/{created['id']}", headers=la).status_code == 403
    assert (
        platform.gateway.get("/v1/incidents/stats", params={"group_by": "school"}, headers=la).status_code
        == 200
    )


def test_another_schools_incident_is_404(platform, world) -> None:
    school, other = world["school"], world["other"]
    created = report(platform, school, "cyberbullying", [], role="head_teacher")
    head = other.headers("head_teacher")
    url = f"/v1/incidents/{created['id']}"
    assert platform.gateway.get(url, headers=head).status_code == 404
    assert platform.gateway.get(url + "/history", headers=head).status_code == 404
    assert platform.gateway.delete(url, headers=head).status_code == 404
    patch = platform.gateway.patch(url, json={"status": "closed"}, headers={**head, "If-Match": '"x"'})
    assert patch.status_code == 404
    # Naming another school's pupil is refused.
    body = {
        "category": "cyberbullying",
        "severity": "low",
        "occurred_at": _when(),
        "location": "on_site",
        "summary": "x",
        "people": [{"person_id": world["other_pupil"]["id"], "role": "affected"}],
    }
    assert (
        platform.gateway.post("/v1/incidents", json=body, headers=school.headers("teacher")).status_code
        == 422
    )


def test_delete_is_409_and_stale_etag_is_412(platform, world) -> None:
    school = world["school"]
    created = report(platform, school, "misuse_of_ict", [], role="safeguarding_lead")
    url = f"/v1/incidents/{created['id']}"
    head = school.headers("head_teacher")
    deleted = platform.gateway.delete(url, headers=head)
    assert deleted.status_code == 409
    assert deleted.headers["content-type"].startswith("application/problem+json")
    assert "never deleted" in deleted.json()["detail"]
    assert platform.gateway.get(url, headers=head).status_code == 200
    etag = platform.gateway.get(url, headers=head).headers["ETag"]
    first = platform.gateway.patch(url, json={"status": "under_review"}, headers={**head, "If-Match": etag})
    assert first.status_code == 200
    stale = platform.gateway.patch(url, json={"status": "closed"}, headers={**head, "If-Match": etag})
    assert stale.status_code == 412
    assert platform.gateway.get(url, headers=head).json()["status"] == "under_review"


def test_police_referral_puts_a_legal_hold(platform, world) -> None:
    school = world["school"]
    people = [{"person_id": world["pupils"][0]["id"], "role": "affected"}]
    created = report(platform, school, "grooming", people, role="safeguarding_lead")
    url = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    action = {"kind": "police_referral", "occurred_at": _when(5), "police_reference": "CAD-4471-26"}
    assert platform.gateway.post(url + "/actions", json=action, headers=lead).status_code == 201
    incident = platform.gateway.get(url, headers=lead).json()
    assert incident["legal_hold"] is True
    deleted = platform.gateway.delete(url, headers=school.headers("head_teacher"))
    assert deleted.status_code == 409 and deleted.json()["legal_hold"] is True


def test_sexting_evidence_refuses_imagery(platform, world) -> None:
    school = world["school"]
    people = [{"person_id": world["pupils"][1]["id"], "role": "affected"}]
    created = report(platform, school, "sexting", people, role="safeguarding_lead")
    url = f"/v1/incidents/{created['id']}/evidence"
    lead = school.headers("safeguarding_lead")
    image = {
        "kind": "image",
        "description": "photo",
        "stored_at": "USB stick",
        "held_by": "DSL",
        "sha256": "c" * 64,
    }
    refused = platform.gateway.post(url, json=image, headers=lead)
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("imagery-not-stored")
    device = {
        "kind": "device",
        "description": "Pupil's phone, switched off",
        "stored_at": "Head's safe",
        "held_by": "Head teacher",
        "device_secured": True,
        "handed_to_police_at": _when(1),
        "police_reference": "CAD-5012-26",
    }
    assert platform.gateway.post(url, json=device, headers=lead).status_code == 201
    assert [e["kind"] for e in platform.gateway.get(url, headers=lead).json()] == ["device"]


def test_la_export_through_the_gateway_csv_and_json(platform, world) -> None:
    school, sibling = world["school"], world["sibling"]
    report(
        platform, sibling, "cyberbullying", [{"person_id": world["sibling_pupil"]["id"], "role": "affected"}]
    )
    la = platform.la_headers(world["la_code"], ["incidents:export", "incidents:stats"])
    response = platform.gateway.get("/v1/incidents/export", params={"format": "csv", "limit": 3}, headers=la)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 3
    cursor = response.headers["X-Next-Cursor"]
    schools = {r["school_id"] for r in rows}
    while response.headers["X-Has-More"] == "true":
        response = platform.gateway.get(
            "/v1/incidents/export", params={"format": "csv", "limit": 3, "cursor": cursor}, headers=la
        )
        page = list(csv.DictReader(io.StringIO(response.text)))
        rows += page
        schools |= {r["school_id"] for r in page}
        cursor = response.headers["X-Next-Cursor"]
    assert schools == {school.id, sibling.id}
    assert world["other"].id not in response.text
    whole = platform.gateway.get("/v1/incidents/export", headers=la).json()
    assert {i["id"] for i in whole["items"]} == {r["id"] for r in rows}
    assert "reported in a lesson" not in str(whole)


def test_demo_seed_runs_through_the_gateway(platform) -> None:
    from incidents.demo import seed

    school = platform.new_school(la_code="202")
    pupils = [school.pupil(year_group=str(1 + i % 6)) for i in range(11)]
    roles = ("head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher", "governor")
    staff = {role: school.staff_person(role) for role in roles}
    school.sync()
    demo = {
        "school_id": school.id,
        "pupils": pupils,
        "carers": [],
        "staff": staff,
        "headers": {role: school.headers(role) for role in roles},
    }
    seed(platform.gateway, demo)
    head = school.headers("head_teacher")
    listed = platform.gateway.get("/v1/incidents", params={"limit": 100}, headers=head).json()["items"]
    assert len(listed) == 10
    assert any(i["legal_hold"] for i in listed)
    lead_view = platform.gateway.get(
        "/v1/incidents", params={"limit": 100}, headers=school.headers("safeguarding_lead")
    )
    assert len(lead_view.json()["items"]) == 9  # the allegation is the head's alone
