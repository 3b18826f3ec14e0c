"""The accused sees nothing of the allegation, on every path out of the incidents service.

Each case records one incident that the viewer may not read: an allegation against the head
naming the head, a head-only allegation (about a teacher) that the safeguarding lead may not read,
and an incident naming the safeguarding lead as its subject (a member of staff accused). Then the
viewer tries every path: the record and its parts, the list, the export (JSON and CSV), the
counts and the audit log. The LA's reporting client still gets what CONTRACT.md gives it.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid

import pytest

from servicekit.auth import Principal
from servicekit.models import ReplicaPerson
from tests.incidents.conftest import report
from tests.world import School

GROUPINGS = ["category", "month", "year_group", "school"]

CASES = {
    # viewer, category, the staff role named as subject
    "head-accused": ("head_teacher", "allegation_against_staff", "head_teacher"),
    "lead-head-only": ("safeguarding_lead", "allegation_against_staff", "teacher"),
    "lead-accused": ("safeguarding_lead", "misuse_of_ict", "safeguarding_lead"),
}


async def _seven_others(client, school: School, incident_body) -> None:
    """Seven incidents everyone concerned may read, in the same month: one more would round 7 up to 10."""
    for _ in range(7):
        await report(client, school, incident_body("cyberbullying"), role="computing_lead")


async def _every_count(client, headers) -> list[dict]:
    """Every count the viewer can ask for around the incident: each grouping, and day-sized periods."""
    answers = []
    for n in range(len(GROUPINGS) + 1):
        for groups in itertools.combinations(GROUPINGS, n):
            for period in ({}, {"from": "2026-09-06", "to": "2026-09-06"}, {"from": "2026-09-01"}):
                response = await client.get(
                    "/v1/incidents/stats", params={**period, "group_by": list(groups)}, headers=headers
                )
                assert response.status_code == 200, response.text
                answers.append(response.json())
    return answers


async def _hidden(client, school: School, incident_body, case: str) -> tuple[dict[str, str], dict, list[str]]:
    """Seven incidents the viewer reads, then the one they may not: (viewer's headers, it, its traces)."""
    viewer, category, accused = CASES[case]
    await _seven_others(client, school, incident_body)
    body = incident_body(category, people=[{"person_id": str(school.staff[accused]), "role": "subject"}])
    hidden = await report(client, school, body, role="computing_lead")
    if viewer == "safeguarding_lead":  # the head, who may read it, adds to its trail
        note = {"kind": "note", "occurred_at": "2026-09-07T08:00:00Z", "note": "Spoke to the LADO."}
        added = await client.post(
            f"/v1/incidents/{hidden['id']}/actions", json=note, headers=school.headers("head_teacher")
        )
        assert added.status_code == 201
    return school.headers(viewer), hidden, [hidden["id"], hidden["reference"]]


@pytest.mark.parametrize("case", CASES)
async def test_the_record_is_404_to_the_accused(client, school: School, incident_body, case: str) -> None:
    headers, hidden, _ = await _hidden(client, school, incident_body, case)
    for path in ("", "/history", "/actions", "/evidence"):
        assert (await client.get(f"/v1/incidents/{hidden['id']}{path}", headers=headers)).status_code == 404


@pytest.mark.parametrize("case", CASES)
async def test_the_list_and_search_leave_it_out(client, school: School, incident_body, case: str) -> None:
    headers, hidden, traces = await _hidden(client, school, incident_body, case)
    for params in ({}, {"category": hidden["category"]}, {"status": "open"}):
        listed = await client.get("/v1/incidents", params=params, headers=headers)
        assert listed.status_code == 200
        assert not any(t in listed.text for t in traces), params


@pytest.mark.parametrize("case", CASES)
async def test_the_json_export_leaves_it_out(client, school: School, incident_body, case: str) -> None:
    headers, _, traces = await _hidden(client, school, incident_body, case)
    exported = await client.get("/v1/incidents/export", headers=headers)
    assert exported.status_code == 200
    assert len(exported.json()["items"]) == 7
    assert not any(t in exported.text for t in traces)


@pytest.mark.parametrize("case", CASES)
async def test_the_csv_export_leaves_it_out(client, school: School, incident_body, case: str) -> None:
    headers, _, traces = await _hidden(client, school, incident_body, case)
    as_csv = await client.get("/v1/incidents/export", params={"format": "csv"}, headers=headers)
    assert as_csv.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == 7
    assert not any(t in as_csv.text for t in traces)
    assert as_csv.headers["X-Remaining"] == "0"


@pytest.mark.parametrize("case", CASES)
async def test_the_counts_do_not_move(client, school: School, incident_body, case: str) -> None:
    """Every grouping and period says what it said before the allegation (7 would round up to 10)."""
    viewer = CASES[case][0]
    await _seven_others(client, school, incident_body)
    before = await _every_count(client, school.headers(viewer))
    client_schools_incidents = await client.get("/v1/incidents", headers=school.headers(viewer))
    assert len(client_schools_incidents.json()["items"]) == 7
    _, category, accused = CASES[case]
    body = incident_body(category, people=[{"person_id": str(school.staff[accused]), "role": "subject"}])
    await report(client, school, body, role="computing_lead")
    assert await _every_count(client, school.headers(viewer)) == before


@pytest.mark.parametrize("case", CASES)
async def test_the_audit_log_leaves_out_its_trail(client, school: School, incident_body, case: str) -> None:
    headers, hidden, traces = await _hidden(client, school, incident_body, case)
    log = await client.get("/v1/incidents/audit", params={"limit": 500}, headers=headers)
    if CASES[case][0] != "head_teacher":
        assert log.status_code == 403  # the lead reads no incidents audit log at all
        return
    assert log.status_code == 200
    assert len(log.json()["items"]) >= 7  # the others' trail is there
    assert not any(t in log.text for t in traces)
    by_id = await client.get("/v1/incidents/audit", params={"target_id": hidden["id"]}, headers=headers)
    assert by_id.status_code == 200 and by_id.json()["items"] == []


@pytest.mark.parametrize("case", CASES)
async def test_the_la_still_gets_it_as_the_contract_says(
    client, school: School, incident_body, case: str
) -> None:
    _, hidden, _ = await _hidden(client, school, incident_body, case)
    la = await client.get("/v1/incidents/export", headers=school.headers("la"))
    assert hidden["id"] in {i["id"] for i in la.json()["items"]}
    assert len(la.json()["items"]) == 8
    la_total = (await client.get("/v1/incidents/stats", headers=school.headers("la"))).json()["total"]
    assert la_total == 10  # 8 incidents, rounded


async def test_the_head_still_reads_the_trail_of_what_they_may_see(
    client, school: School, incident_body
) -> None:
    body = incident_body(
        "allegation_against_staff", people=[{"person_id": str(school.staff["teacher"]), "role": "subject"}]
    )
    seen = await report(client, school, body, role="computing_lead")
    head = school.headers("head_teacher")
    assert (await client.get(f"/v1/incidents/{seen['id']}", headers=head)).status_code == 200
    log = (await client.get("/v1/incidents/audit", params={"target_id": seen["id"]}, headers=head)).json()
    assert {e["action"] for e in log["items"]} == {"incident.created", "incident.restricted_read"}


async def test_a_governor_named_as_subject_is_not_counted_to_them(
    client, school: School, incident_body
) -> None:
    governor = school.headers("governor")
    await _seven_others(client, school, incident_body)
    before = await _every_count(client, governor)
    body = incident_body(
        "allegation_against_staff", people=[{"person_id": str(school.staff["governor"]), "role": "subject"}]
    )
    await report(client, school, body, role="computing_lead")
    assert await _every_count(client, governor) == before
    # The other governors count it (8 incidents, rounded to 10): governors oversee the school's numbers.
    other = school.headers("governor", person_id=uuid.uuid4())
    assert (await client.get("/v1/incidents/stats", headers=other)).json()["total"] == 10


async def test_a_schools_reporting_client_gets_the_schools_export_as_the_contract_says(
    client, school: School, incident_body
) -> None:
    """CONTRACT.md: the export is every incident of the caller's school. Such a client has no person
    to apply the rule to, so only the platform administrator may issue one (identity refuses the
    head: tests/identity/test_clients.py); it reads no incident record."""
    created = await report(client, school, incident_body("allegation_against_staff"), role="computing_lead")
    client_headers = school.tokens.headers(
        scopes=["incidents:export", "incidents:stats", "incidents:read"],
        client_id="issued-by-the-platform-admin",
        school_id=school.id,
    )
    exported = await client.get("/v1/incidents/export", headers=client_headers)
    assert exported.status_code == 200
    assert [item["id"] for item in exported.json()["items"]] == [created["id"]]
    assert (await client.get("/v1/incidents/stats", headers=client_headers)).status_code == 200
    assert (await client.get("/v1/incidents", headers=client_headers)).json()["items"] == []


async def test_the_platform_administrator_reads_no_entry_about_an_incident(
    client, school: School, incident_body
) -> None:
    created = await report(client, school, incident_body("grooming"), role="computing_lead")
    await client.get(f"/v1/incidents/{created['id']}", headers=school.headers("safeguarding_lead"))
    await client.get("/v1/incidents/export", headers=school.headers("la"))
    admin = school.tokens.headers(scopes=["audit:read"], roles=["platform_admin"])
    log = await client.get("/v1/incidents/audit", params={"limit": 500}, headers=admin)
    assert log.status_code == 200
    assert created["id"] not in log.text
    assert {e["action"] for e in log.json()["items"]} == {"incident.exported"}


async def test_later_consumers_ask_the_same_rule(app, client, school: School, incident_body) -> None:
    """Notifications, webhooks and the console will ask access.py whom they may tell."""
    from incidents.incident.access import may_see, people_who_may_see

    body = incident_body(
        "allegation_against_staff",
        people=[{"person_id": str(school.staff["head_teacher"]), "role": "subject"}],
    )
    against_head = await report(client, school, body, role="computing_lead")
    grooming = await report(client, school, incident_body("grooming"), role="teacher")
    everyone = set(school.staff.values()) | {uuid.uuid4()}
    async with app.state.sessionmaker() as session:
        assert await people_who_may_see(session, uuid.UUID(against_head["id"]), everyone) == set()
        assert await people_who_may_see(session, uuid.UUID(grooming["id"]), everyone) == {
            school.staff["head_teacher"],
            school.staff["safeguarding_lead"],
        }
        # A person's roles come from the people replica: a second head (not accused) may see it.
        second_head = uuid.uuid4()
        session.add(
            ReplicaPerson(
                id=second_head,
                school_id=school.id,
                kind="staff",
                given_name="Deputy",
                family_name="Head",
                roles=["head_teacher"],
                is_on_roll=True,
            )
        )
        await session.flush()
        assert await people_who_may_see(session, uuid.UUID(against_head["id"]), [second_head]) == {
            second_head
        }
        await session.rollback()
    async with app.state.sessionmaker() as session:
        for role, expected in (("head_teacher", False), ("safeguarding_lead", False)):
            principal = Principal.from_claims(
                {
                    "sub": "x",
                    "jti": "j",
                    "iat": 0,
                    "exp": 1,
                    "scope": "incidents:read",
                    "roles": [role],
                    "school_id": str(school.id),
                    "person_id": str(school.staff[role]),
                }
            )
            assert await may_see(session, principal, uuid.UUID(against_head["id"])) is expected
            assert await may_see(session, principal, uuid.UUID(grooming["id"])) is True
