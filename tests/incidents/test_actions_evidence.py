"""The chronology of actions, the evidence register (and its rule for sexting), the legal hold."""

from __future__ import annotations

from tests.incidents.conftest import report

WHEN = "2026-09-07T08:00:00Z"


async def test_chronology_of_actions(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}/actions"
    lead = school.headers("safeguarding_lead")
    pupil = str(school.pupils[1])
    actions = [
        {"kind": "note", "occurred_at": WHEN, "note": "Screenshots shown by the parent."},
        {"kind": "sanction", "occurred_at": WHEN, "sanction": "interview", "person_id": pupil},
        {
            "kind": "sanction",
            "occurred_at": WHEN,
            "sanction": "access_removed",
            "person_id": pupil,
            "access_removed_until": "2026-09-21",
        },
        {"kind": "parents_informed", "occurred_at": WHEN, "person_id": pupil},
        {
            "kind": "referral_decision",
            "occurred_at": WHEN,
            "referred_to": "childrens_social_care",
            "decision": "not_refer",
            "rationale": "Handled under the anti-bullying policy; no risk of harm.",
        },
        {"kind": "la_informed", "occurred_at": WHEN},
    ]
    for action in actions:
        response = await client.post(url, json=action, headers=lead)
        assert response.status_code == 201, response.text
    listed = (await client.get(url, headers=lead)).json()
    assert [a["kind"] for a in listed] == [a["kind"] for a in actions]
    assert listed[2]["access_removed_until"] == "2026-09-21"
    assert listed[4]["decision"] == "not_refer"
    assert listed[4]["rationale"].startswith("Handled")
    # The incident itself is not under legal hold for these.
    assert (await client.get(f"/v1/incidents/{created['id']}", headers=lead)).json()["legal_hold"] is False


async def test_action_fields_depend_on_kind(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}/actions"
    lead = school.headers("safeguarding_lead")
    pupil = str(school.pupils[1])
    bad = [
        {"kind": "referral_decision", "occurred_at": WHEN, "referred_to": "police", "decision": "not_refer"},
        {"kind": "sanction", "occurred_at": WHEN, "sanction": "access_removed", "person_id": pupil},
        {"kind": "sanction", "occurred_at": WHEN, "sanction": "detention", "person_id": pupil},
        {"kind": "police_referral", "occurred_at": WHEN},
        {"kind": "note", "occurred_at": WHEN, "note": "x", "police_reference": "P1"},
        {
            "kind": "sanction",
            "occurred_at": WHEN,
            "sanction": "interview",
            "person_id": str(school.pupils[2]),
        },
        {"kind": "note", "occurred_at": WHEN, "note": "x", "extra": 1},
    ]
    for action in bad:
        response = await client.post(url, json=action, headers=lead)
        assert response.status_code == 422, action
    assert (await client.get(url, headers=lead)).json() == []
    teacher = await client.post(
        url, json={"kind": "note", "occurred_at": WHEN, "note": "x"}, headers=school.headers("teacher")
    )
    assert teacher.status_code == 403


async def test_action_and_evidence_dates_are_text_never_numbers(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    base = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    pupil = str(school.pupils[1])
    removal = {"kind": "sanction", "sanction": "access_removed", "person_id": pupil}
    evidence = {
        "kind": "document",
        "description": "Written account",
        "stored_at": "DSL safe",
        "held_by": "DSL",
    }
    attempts = [
        (
            "actions",
            {**removal, "occurred_at": WHEN, "access_removed_until": 1790000000},
            "access_removed_until",
        ),
        ("actions", {**removal, "occurred_at": WHEN, "access_removed_until": "0"}, "access_removed_until"),
        (
            "actions",
            {**removal, "occurred_at": 1788770000, "access_removed_until": "2026-09-21"},
            "occurred_at",
        ),
        ("evidence", {**evidence, "handed_to_police_at": 0}, "handed_to_police_at"),
        ("evidence", {**evidence, "handed_to_police_at": "0.5"}, "handed_to_police_at"),
    ]
    for path, body, field in attempts:
        response = await client.post(f"{base}/{path}", json=body, headers=lead)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]
    assert (await client.get(f"{base}/actions", headers=lead)).json() == []
    assert (await client.get(f"{base}/evidence", headers=lead)).json() == []
    assert (await client.get(base, headers=lead)).json()["version"] == created["version"]


async def test_police_referral_sets_the_legal_hold(client, school, incident_body) -> None:
    created = await report(client, school, incident_body("grooming"))
    incident_url = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    response = await client.post(
        incident_url + "/actions",
        json={"kind": "police_referral", "occurred_at": WHEN, "police_reference": "MPS-2026-4471"},
        headers=lead,
    )
    assert response.status_code == 201
    incident = await client.get(incident_url, headers=lead)
    body = incident.json()
    assert body["legal_hold"] is True
    assert "MPS-2026-4471" in body["legal_hold_reason"]
    assert body["legal_hold_at"] == "2026-09-07T08:30:00Z"
    deleted = await client.delete(incident_url, headers=school.headers("head_teacher"))
    assert deleted.status_code == 409
    assert "legal hold" in deleted.json()["detail"]
    assert deleted.json()["legal_hold"] is True
    # Nobody can lift a hold that a police referral set, not even the head.
    head = school.headers("head_teacher")
    lift = await client.patch(
        incident_url, json={"legal_hold": False}, headers={**head, "If-Match": incident.headers["ETag"]}
    )
    assert lift.status_code == 409
    history = (await client.get(incident_url + "/history", headers=lead)).json()
    assert history[-1]["changes"]["legal_hold"] == [False, True]


async def test_manual_legal_hold_only_the_head_releases_it(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    held = await client.patch(
        url,
        json={"legal_hold": True, "legal_hold_reason": "Solicitor's letter received."},
        headers={**lead, "If-Match": f'"{created["id"]}.1"'},
    )
    assert held.status_code == 200 and held.json()["legal_hold"] is True
    release = await client.patch(
        url, json={"legal_hold": False}, headers={**lead, "If-Match": held.headers["ETag"]}
    )
    assert release.status_code == 403
    head = school.headers("head_teacher")
    released = await client.patch(
        url, json={"legal_hold": False}, headers={**head, "If-Match": held.headers["ETag"]}
    )
    assert released.status_code == 200 and released.json()["legal_hold"] is False
    no_reason = await client.patch(
        url, json={"legal_hold": True}, headers={**head, "If-Match": released.headers["ETag"]}
    )
    assert no_reason.status_code == 422


async def test_evidence_register_keeps_what_where_by_whom_and_hash(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}/evidence"
    lead = school.headers("safeguarding_lead")
    digest = "a" * 64
    entry = {
        "kind": "screenshot",
        "description": "Screenshot of the group chat, from the parent.",
        "stored_at": "Safeguarding drive / ESI-2026-0001",
        "held_by": "Safeguarding lead",
        "sha256": digest,
    }
    response = await client.post(url, json=entry, headers=lead)
    assert response.status_code == 201
    assert response.json()["sha256"] == digest
    assert response.json()["recorded_by"].startswith("user:")
    assert (await client.post(url, json={**entry, "sha256": None}, headers=lead)).status_code == 422
    assert (await client.post(url, json={**entry, "sha256": "xyz"}, headers=lead)).status_code == 422
    listed = (await client.get(url, headers=lead)).json()
    assert [e["kind"] for e in listed] == ["screenshot"]
    # Evidence is appended, never changed or removed.
    evidence_id = listed[0]["id"]
    assert (await client.delete(f"{url}/{evidence_id}", headers=lead)).status_code in (404, 405)


async def test_sexting_evidence_never_stores_imagery(client, school, incident_body) -> None:
    created = await report(client, school, incident_body("sexting"))
    url = f"/v1/incidents/{created['id']}/evidence"
    lead = school.headers("safeguarding_lead")
    for kind in ("image", "screenshot", "video", "file"):
        attempt = {
            "kind": kind,
            "description": "Image sent by pupil",
            "stored_at": "Office PC",
            "held_by": "Office",
            "sha256": "b" * 64,
        }
        response = await client.post(url, json=attempt, headers=lead)
        assert response.status_code == 422, kind
        assert response.json()["type"].endswith("imagery-not-stored")
        assert "UKCIS" in response.json()["detail"]
    unsecured = {
        "kind": "device",
        "description": "Pupil's phone",
        "stored_at": "Head's safe",
        "held_by": "Head",
    }
    assert (await client.post(url, json=unsecured, headers=lead)).status_code == 422
    secured = {
        **unsecured,
        "device_secured": True,
        "handed_to_police_at": "2026-09-07T08:15:00Z",
        "police_reference": "MPS-2026-5012",
    }
    response = await client.post(url, json=secured, headers=lead)
    assert response.status_code == 201
    assert response.json()["device_secured"] is True
    assert response.json()["sha256"] is None
    assert [e["kind"] for e in (await client.get(url, headers=lead)).json()] == ["device"]
