"""The incident log: reporting, who sees what, changes with If-Match, history, never deleting."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import select

from servicekit.clock import FrozenClock
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.incidents.conftest import add_school, report


async def test_staff_report_gets_reference_status_and_etag(client, school, incident_body) -> None:
    response = await client.post("/v1/incidents", json=incident_body(), headers=school.headers("teacher"))
    assert response.status_code == 201
    body = response.json()
    assert body["reference"] == "ESI-2026-0001"
    assert body["status"] == "open"
    assert body["risk"] == "conduct"
    assert body["recorded_at"] == "2026-09-07T08:30:00Z"
    assert body["occurred_at"] == "2026-09-06T19:30:00Z"
    assert response.headers["ETag"] == f'"{body["id"]}.1"'
    assert {(p["role"], p["year_group"]) for p in body["people"]} == {("affected", "3"), ("subject", "4")}
    second = await report(client, school, incident_body())
    assert second["reference"] == "ESI-2026-0002"


async def test_idempotent_report_creates_one_incident(client, school, incident_body) -> None:
    headers = {**school.headers("teacher"), "Idempotency-Key": "abc-1"}
    first = await client.post("/v1/incidents", json=incident_body(), headers=headers)
    again = await client.post("/v1/incidents", json=incident_body(), headers=headers)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = await client.post("/v1/incidents", json=incident_body(severity="high"), headers=headers)
    assert other.status_code == 422
    listed = await client.get("/v1/incidents", headers=school.headers("head_teacher"))
    assert len(listed.json()["items"]) == 1


async def test_bad_input_is_422_and_creates_nothing(client, school, incident_body) -> None:
    head = school.headers("head_teacher")
    cases = [
        incident_body(category="gossip"),
        incident_body(location="home"),
        incident_body(occurred_at="2026-09-06T19:30:00"),  # no zone
        incident_body(occurred_at="2027-01-01T00:00:00Z"),  # in the future
        incident_body(summary="x" * 4001),
        incident_body(school_id=str(uuid.uuid4())),  # unknown field
        incident_body(people=[{"person_id": str(uuid.uuid4()), "role": "affected"}]),  # not at this school
        incident_body(people=[{"person_id": str(school.pupils[0]), "role": "bystander"}]),
    ]
    for body in cases:
        response = await client.post("/v1/incidents", json=body, headers=head)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/incidents", headers=head)).json()["items"] == []


async def test_governor_and_parent_cannot_report(client, school, incident_body) -> None:
    governor = await client.post("/v1/incidents", json=incident_body(), headers=school.headers("governor"))
    assert governor.status_code == 403
    missing = await client.post("/v1/incidents", json=incident_body())
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")


async def test_reporter_sees_own_reports_only(client, school, incident_body) -> None:
    mine = await report(client, school, incident_body(), role="teacher")
    other = await report(client, school, incident_body(), role="computing_lead")
    teacher = school.headers("teacher")
    listed = await client.get("/v1/incidents", headers=teacher)
    assert [i["id"] for i in listed.json()["items"]] == [mine["id"]]
    assert (await client.get(f"/v1/incidents/{mine['id']}", headers=teacher)).status_code == 200
    assert (await client.get(f"/v1/incidents/{other['id']}", headers=teacher)).status_code == 404


async def test_leads_see_all_of_their_school(client, school, incident_body) -> None:
    ids = {(await report(client, school, incident_body(), role=r))["id"] for r in ("teacher", "office")}
    for role in ("head_teacher", "safeguarding_lead"):
        listed = await client.get("/v1/incidents", headers=school.headers(role))
        assert {i["id"] for i in listed.json()["items"]} == ids


async def test_restricted_categories_only_for_leads_even_for_the_reporter(
    client, app, school, incident_body
) -> None:
    for category in ("grooming", "sexting", "radicalisation", "self_harm_content"):
        created = await report(client, school, incident_body(category), role="teacher")
        teacher_read = await client.get(f"/v1/incidents/{created['id']}", headers=school.headers("teacher"))
        assert teacher_read.status_code == 404, category
        for role in ("computing_lead", "office"):
            read = await client.get(f"/v1/incidents/{created['id']}", headers=school.headers(role))
            assert read.status_code == 404
        for role in ("safeguarding_lead", "head_teacher"):
            read = await client.get(f"/v1/incidents/{created['id']}", headers=school.headers(role))
            assert read.status_code == 200
            assert read.json()["is_restricted"] is True
    assert (await client.get("/v1/incidents", headers=school.headers("teacher"))).json()["items"] == []


async def test_every_read_of_a_restricted_incident_is_audited(client, app, school, incident_body) -> None:
    created = await report(client, school, incident_body("grooming"), role="safeguarding_lead")
    plain = await report(client, school, incident_body(), role="safeguarding_lead")
    lead = school.headers("safeguarding_lead")
    await client.get(f"/v1/incidents/{created['id']}", headers=lead)
    await client.get(f"/v1/incidents/{plain['id']}", headers=lead)
    await client.get("/v1/incidents", headers=lead)
    await client.get(f"/v1/incidents/{created['id']}/actions", headers=lead)
    async with app.state.sessionmaker() as session:
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "incident.restricted_read"))
        )
    assert {e.target_id for e in entries} == {created["id"]}
    assert sorted(e.detail["via"] for e in entries) == ["get", "get", "list"]
    assert all(
        e.actor == f"user:{school.staff['safeguarding_lead']}" or e.actor.startswith("user:") for e in entries
    )


async def test_allegation_against_staff_is_the_heads_alone(client, school, incident_body) -> None:
    accused = school.staff["teacher"]
    body = incident_body(
        "allegation_against_staff",
        people=[
            {"person_id": str(accused), "role": "subject"},
            {"person_id": str(school.pupils[0]), "role": "affected"},
        ],
    )
    created = await report(client, school, body, role="office")
    url = f"/v1/incidents/{created['id']}"
    assert (await client.get(url, headers=school.headers("head_teacher"))).status_code == 200
    for role in ("safeguarding_lead", "office", "computing_lead"):
        assert (await client.get(url, headers=school.headers(role))).status_code == 404, role
    # The accused member of staff never sees it, whatever role their token carries.
    for role in ("teacher", "safeguarding_lead", "head_teacher"):
        response = await client.get(url, headers=school.headers(role, person_id=accused))
        assert response.status_code == 404, role
        listed = await client.get("/v1/incidents", headers=school.headers(role, person_id=accused))
        assert created["id"] not in {i["id"] for i in listed.json()["items"]}
    # The safeguarding lead cannot change or annotate it either.
    patch = await client.patch(
        url,
        json={"status": "closed"},
        headers={**school.headers("safeguarding_lead"), "If-Match": f'"{created["id"]}.1"'},
    )
    assert patch.status_code == 404


async def test_governors_and_the_la_get_no_incidents(client, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    for headers in (school.headers("governor"), school.headers("la")):
        assert (await client.get("/v1/incidents", headers=headers)).status_code == 403
        assert (await client.get(f"/v1/incidents/{created['id']}", headers=headers)).status_code == 403


async def test_another_schools_incident_is_404(
    client, app, tokens: TokenFactory, school, incident_body
) -> None:
    created = await report(client, school, incident_body(), role="head_teacher")
    other = await add_school(app, tokens, la_code="202")
    head = other.headers("head_teacher")
    url = f"/v1/incidents/{created['id']}"
    assert (await client.get(url, headers=head)).status_code == 404
    assert (await client.get(url + "/actions", headers=head)).status_code == 404
    assert (await client.get(url + "/evidence", headers=head)).status_code == 404
    assert (await client.get(url + "/history", headers=head)).status_code == 404
    patch = await client.patch(url, json={"status": "closed"}, headers={**head, "If-Match": '"x"'})
    assert patch.status_code == 404
    assert (await client.delete(url, headers=head)).status_code == 404
    note = {"kind": "note", "occurred_at": "2026-09-07T08:00:00Z", "note": "x"}
    assert (await client.post(url + "/actions", json=note, headers=head)).status_code == 404
    assert (await client.get("/v1/incidents", headers=head)).json()["items"] == []
    # Naming the other school's pupils in one's own incident is refused too.
    body = incident_body(people=[{"person_id": str(school.pupils[0]), "role": "affected"}])
    assert (await client.post("/v1/incidents", json=body, headers=head)).status_code == 422


async def test_patch_needs_if_match_and_refuses_a_stale_etag(client, school, incident_body, clock) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    etag = (await client.get(url, headers=lead)).headers["ETag"]
    assert (await client.patch(url, json={"status": "under_review"}, headers=lead)).status_code == 428
    clock.advance(minutes=5)
    first = await client.patch(url, json={"status": "under_review"}, headers={**lead, "If-Match": etag})
    assert first.status_code == 200
    assert first.json()["status"] == "under_review"
    assert first.headers["ETag"] != etag
    stale = await client.patch(url, json={"severity": "high"}, headers={**lead, "If-Match": etag})
    assert stale.status_code == 412
    assert (await client.get(url, headers=lead)).json()["severity"] == "medium"
    teacher = await client.patch(
        url,
        json={"status": "closed"},
        headers={**school.headers("teacher"), "If-Match": first.headers["ETag"]},
    )
    assert teacher.status_code == 403
    bad = await client.patch(
        url, json={"status": "deleted"}, headers={**lead, "If-Match": first.headers["ETag"]}
    )
    assert bad.status_code == 422
    null = await client.patch(url, json={"status": None}, headers={**lead, "If-Match": first.headers["ETag"]})
    assert null.status_code == 422


async def test_every_change_is_kept_in_history(client, school, incident_body, clock) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}"
    clock.advance(hours=1)
    lead = school.headers("safeguarding_lead")
    r = await client.patch(
        url,
        json={"severity": "high", "status": "under_review"},
        headers={**lead, "If-Match": f'"{created["id"]}.1"'},
    )
    assert r.status_code == 200
    note = {"kind": "note", "occurred_at": "2026-09-07T09:00:00Z", "note": "Spoke to both pupils."}
    assert (await client.post(url + "/actions", json=note, headers=lead)).status_code == 201
    history = (await client.get(url + "/history", headers=lead)).json()
    assert [h["action"] for h in history] == ["created", "updated", "action_added"]
    assert history[1]["changes"] == {"severity": ["medium", "high"], "status": ["open", "under_review"]}
    assert history[1]["actor"] == f"user:{school.staff['safeguarding_lead']}" or history[1][
        "actor"
    ].startswith("user:")
    assert history[1]["at"] == "2026-09-07T09:30:00Z"
    assert history[0]["version"] == 1 and history[1]["version"] == 2


async def test_delete_is_409_with_the_reason_and_changes_nothing(client, app, school, incident_body) -> None:
    created = await report(client, school, incident_body())
    url = f"/v1/incidents/{created['id']}"
    head = school.headers("head_teacher")
    response = await client.delete(url, headers=head)
    assert response.status_code == 409
    problem = response.json()
    assert "never deleted" in problem["detail"]
    assert problem["review_on"] == "2041-03-02"  # the younger child's date of birth + 25 years
    assert problem["retention_class"] == "safeguarding"
    assert (await client.get(url, headers=head)).status_code == 200
    assert (await client.delete(url, headers=school.headers("teacher"))).status_code == 403
    async with app.state.sessionmaker() as session:
        refused = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "incident.delete_refused")
        )
    assert refused is not None and refused.target_id == created["id"]


async def test_retention_rules(client, app, tokens, school, incident_body) -> None:
    technical = await report(client, school, incident_body("malware", people=[]))
    assert (technical["retention_class"], technical["review_on"]) == ("operational", "2032-09-07")
    allegation = await report(
        client,
        school,
        incident_body(
            "allegation_against_staff", people=[{"person_id": str(school.staff["office"]), "role": "subject"}]
        ),
    )
    assert (allegation["retention_class"], allegation["review_on"]) == ("allegation", "2036-09-07")
    unknown_birth = await add_school(app, tokens, la_code="209", pupils=1, births=[None])
    created = await report(
        client,
        unknown_birth,
        incident_body(people=[{"person_id": str(unknown_birth.pupils[0]), "role": "affected"}]),
    )
    # No date of birth: the occurrence date + 25 years stands in (never earlier than the real rule).
    assert (created["retention_class"], created["review_on"]) == ("safeguarding", "2051-09-06")


async def test_people_can_be_added_later(client, school, incident_body) -> None:
    created = await report(client, school, incident_body(people=[]))
    url = f"/v1/incidents/{created['id']}"
    lead = school.headers("safeguarding_lead")
    body = {"people": [{"person_id": str(school.pupils[2]), "role": "witness"}]}
    response = await client.post(url + "/people", json=body, headers=lead)
    assert response.status_code == 201
    assert [(p["role"], p["year_group"]) for p in response.json()["people"]] == [("witness", "5")]
    assert response.json()["retention_class"] == "safeguarding"


async def test_unexpected_clock_free(clock: FrozenClock, app: FastAPI) -> None:
    assert app.state.clock is clock
