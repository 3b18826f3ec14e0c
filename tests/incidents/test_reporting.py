"""LA reporting: the pseudonymised export feed (JSON and CSV, streamed) and the counts."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from incidents.reporting.pseudonym import Pseudonymiser
from servicekit.models import AuditEntry
from tests.incidents.conftest import add_school, report

ITEM_FIELDS = {
    "id",
    "reference",
    "school_id",
    "category",
    "severity",
    "status",
    "location",
    "occurred_at",
    "recorded_at",
    "updated_at",
    "people",
    "actions",
}


async def pull(client, headers, *, fmt="json", limit=1000, cursor=None):
    params = {"format": fmt, "limit": limit}
    if cursor:
        params["cursor"] = cursor
    return await client.get("/v1/incidents/export", params=params, headers=headers)


async def test_la_export_has_every_school_of_the_la_and_no_personal_data(
    client, app, tokens, school, incident_body
):
    sibling = await add_school(app, tokens, la_code=school.la_code)
    elsewhere = await add_school(app, tokens, la_code="305")
    mine = {(await report(client, school, incident_body()))["id"] for _ in range(5)}
    mine |= {
        (
            await report(
                client,
                sibling,
                incident_body(people=[{"person_id": str(sibling.pupils[0]), "role": "affected"}]),
            )
        )["id"]
        for _ in range(4)
    }
    await report(client, elsewhere, incident_body(people=[]))
    response = await pull(client, school.headers("la"))
    assert response.status_code == 200
    assert response.headers["X-Has-More"] == "false"
    body = response.json()
    assert {i["id"] for i in body["items"]} == mine
    assert body["has_more"] is False and body["next_cursor"] == response.headers["X-Next-Cursor"]
    item = body["items"][0]
    assert set(item) == ITEM_FIELDS
    assert {p["role"] for p in item["people"]} == {"affected", "subject"}
    assert set(item["people"][0]) == {"pseudonym", "role", "year_group"}
    text = response.text
    for secret in ("Pupil0", "Child", "UPN0000", "Unkind messages", str(school.pupils[0])):
        assert secret not in text


async def test_pseudonyms_are_stable_per_la_and_differ_between_las(client, app, school, incident_body):
    created = await report(client, school, incident_body())
    first = (await pull(client, school.headers("la"))).json()["items"]
    again = (await pull(client, school.headers("head_teacher"))).json()["items"]
    assert first[0]["people"] == again[0]["people"]
    secret = app.state.settings.pseudonym_secret.get_secret_value().encode()
    pseudonymise = Pseudonymiser(secret)
    affected = next(p for p in first[0]["people"] if p["role"] == "affected")
    assert affected["pseudonym"] == pseudonymise(school.la_code, school.pupils[0])
    assert affected["year_group"] == "3"
    assert pseudonymise("305", school.pupils[0]) != affected["pseudonym"]
    assert Pseudonymiser(b"another key")(school.la_code, school.pupils[0]) != affected["pseudonym"]
    assert created["id"] == first[0]["id"]


async def test_feed_pages_oldest_change_first_and_brings_back_changed_records(
    client, school, incident_body, clock
):
    ids = [(await report(client, school, incident_body()))["id"] for _ in range(10)]
    la = school.headers("la")
    first = await pull(client, la, limit=4)
    assert first.headers["X-Has-More"] == "true"
    page1 = first.json()
    assert [i["id"] for i in page1["items"]] == ids[:4]
    lead = school.headers("safeguarding_lead")
    changed = await client.patch(
        f"/v1/incidents/{ids[1]}", json={"status": "closed"}, headers={**lead, "If-Match": f'"{ids[1]}.1"'}
    )
    assert changed.status_code == 200
    seen = []
    cursor = page1["next_cursor"]
    while True:
        page = (await pull(client, la, limit=4, cursor=cursor)).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [i["id"] for i in seen] == [*ids[4:], ids[1]]
    assert seen[-1]["status"] == "closed"
    # Nothing new: the same cursor comes back with no items.
    empty = (await pull(client, la, cursor=cursor)).json()
    assert empty == {"items": [], "next_cursor": cursor, "has_more": False}


async def test_csv_export_streams_one_row_per_incident_with_cursor_headers(client, school, incident_body):
    ids = [(await report(client, school, incident_body()))["id"] for _ in range(9)]
    lead = school.headers("safeguarding_lead")
    await client.post(
        f"/v1/incidents/{ids[0]}/actions",
        json={
            "kind": "referral_decision",
            "occurred_at": "2026-09-07T08:00:00Z",
            "referred_to": "police",
            "decision": "not_refer",
            "rationale": "No offence disclosed.",
        },
        headers=lead,
    )
    await client.post(
        f"/v1/incidents/{ids[0]}/actions",
        json={
            "kind": "sanction",
            "occurred_at": "2026-09-07T08:10:00Z",
            "sanction": "access_removed",
            "person_id": str(school.pupils[1]),
            "access_removed_until": "2026-09-14",
        },
        headers=lead,
    )
    response = await pull(client, school.headers("la"), fmt="csv", limit=100)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-Has-More"] == "false"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == [*ids[1:], ids[0]]
    last = rows[-1]
    assert last["actions"] == (
        "referral_decision/not_refer/police@2026-09-07T08:00:00Z;sanction/access_removed@2026-09-07T08:10:00Z"
    )
    pseudonyms = [cell.split(":") for cell in last["people"].split(";")]
    assert sorted((p[1], p[2]) for p in pseudonyms) == [("affected", "3"), ("subject", "4")]
    assert "No offence" not in response.text and "Unkind" not in response.text
    json_cursor = (await pull(client, school.headers("la"), limit=100)).json()["next_cursor"]
    assert response.headers["X-Next-Cursor"] == json_cursor


async def test_export_access(client, app, tokens, school, incident_body):
    await report(client, school, incident_body())
    for role in ("teacher", "governor", "computing_lead", "office"):
        assert (await pull(client, school.headers(role))).status_code == 403, role
    assert (await pull(client, school.headers("la"), cursor="not-a-cursor")).status_code == 422
    assert (await pull(client, school.headers("la"), fmt="xml")).status_code == 422
    assert (await pull(client, school.headers("la"), limit=0)).status_code == 422
    other_la = (await pull(client, school.headers("la", la_code="999"))).json()
    assert other_la["items"] == []
    nowhere = tokens.headers(scopes=["incidents:export"], client_id="stray")
    assert (await pull(client, nowhere)).status_code == 403


async def test_export_audits_restricted_reads(client, app, school, incident_body):
    restricted = await report(client, school, incident_body("radicalisation"))
    await report(client, school, incident_body())
    assert (await pull(client, school.headers("la"), fmt="csv")).status_code == 200
    async with app.state.sessionmaker() as session:
        entries = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "incident.restricted_read"))
        )
        exported = await session.scalar(select(AuditEntry).where(AuditEntry.action == "incident.exported"))
    assert [e.detail["incident_ids"] for e in entries] == [[restricted["id"]]]
    assert entries[0].actor == "client:la-reporting"
    assert exported is not None


async def test_stats_for_governors_round_and_withhold_small_counts(client, school, incident_body):
    for _ in range(6):
        await report(client, school, incident_body("cyberbullying"))
    for _ in range(2):
        await report(client, school, incident_body("grooming"))
    governor = school.headers("governor")
    whole = (await client.get("/v1/incidents/stats", headers=governor)).json()
    # 8 incidents in September: rounded to 10, as every published number is.
    assert whole["total"] == 10 and whole["items"] == []
    by_category = await client.get("/v1/incidents/stats", params={"group_by": "category"}, headers=governor)
    assert by_category.status_code == 200
    body = by_category.json()
    # 6 rounds to 5; the 2 groomings are withheld (not listed, as if none).
    assert body["items"] == [{"category": "cyberbullying", "count": 5}]
    assert body["total"] == 10
    assert body["suppressed"] is True
    assert body["disclosure"] == {
        "period": "whole calendar months",
        "withheld_below": 5,
        "rounded_to": 5,
        "cell": "school, calendar month, group",
        "sums": "published cells",
    }
    text = by_category.text
    assert "Pupil" not in text and str(school.pupils[0]) not in text


async def test_stats_by_month_and_year_group(client, school, incident_body):
    for day in ["2026-06-10"] * 3 + ["2026-06-11"] * 3 + ["2026-09-01"] * 5:
        await report(client, school, incident_body(occurred_at=f"{day}T10:00:00Z"))
    lead = school.headers("safeguarding_lead")
    response = await client.get(
        "/v1/incidents/stats", params={"group_by": "month,year_group", "from": "2026-06-01"}, headers=lead
    )
    assert response.status_code == 200
    items = response.json()["items"]
    # Every incident names a pupil of year 3 and one of year 4; 6 rounds to 5.
    assert items == [
        {"month": "2026-06", "year_group": "3", "count": 5},
        {"month": "2026-06", "year_group": "4", "count": 5},
        {"month": "2026-09", "year_group": "3", "count": 5},
        {"month": "2026-09", "year_group": "4", "count": 5},
    ]
    assert response.json()["total"] == 10
    # A few days of June are all of June: the period is widened to whole months.
    june = await client.get(
        "/v1/incidents/stats", params={"from": "2026-06-11", "to": "2026-06-11"}, headers=lead
    )
    assert june.json()["total"] == 5
    assert (june.json()["from"], june.json()["to"]) == ("2026-06-01", "2026-06-30")


async def test_la_stats_by_school_are_rounded_too(client, app, tokens, school, incident_body):
    sibling = await add_school(app, tokens, la_code=school.la_code)
    for _ in range(7):
        await report(client, school, incident_body())
    for _ in range(5):
        await report(client, sibling, incident_body(people=[]))
    await report(client, sibling, incident_body("grooming", people=[]))
    response = await client.get(
        "/v1/incidents/stats", params=[("group_by", "school")], headers=school.headers("la")
    )
    items = response.json()["items"]
    counts = {i["school_id"]: i["count"] for i in items}
    assert counts == {str(school.id): 5, str(sibling.id): 5}
    assert {i["school_name"] for i in items} == {"School 201"}
    # The sum of the schools' published counts (7 and 6, each rounded to 5), never 13 recounted.
    assert response.json()["total"] == 10
    finer = await client.get(
        "/v1/incidents/stats",
        params=[("group_by", "school"), ("group_by", "category")],
        headers=school.headers("la"),
    )
    assert [(i["category"], i["count"]) for i in finer.json()["items"]] == [
        ("cyberbullying", 5),
        ("cyberbullying", 5),
    ]


async def test_stats_refuses_bad_input_and_wrong_roles(client, school):
    lead = school.headers("safeguarding_lead")
    assert (
        await client.get("/v1/incidents/stats", params={"group_by": "name"}, headers=lead)
    ).status_code == 422
    assert (
        await client.get("/v1/incidents/stats", params={"from": "yesterday"}, headers=lead)
    ).status_code == 422
    reversed_range = {"from": "2026-09-01", "to": "2026-08-01"}
    # A period ending before it starts is empty (the schema allows any two days): zero, not a 422.
    empty = await client.get("/v1/incidents/stats", params=reversed_range, headers=lead)
    assert empty.status_code == 200 and empty.json()["total"] == 0
    for role in ("teacher", "office", "computing_lead"):
        assert (await client.get("/v1/incidents/stats", headers=school.headers(role))).status_code == 403


def test_json_tail_is_valid() -> None:
    # The streamed JSON body ends with the cursor and has_more after the items array.
    assert json.loads('{"items":[]' + "," + '"next_cursor":"x","has_more":false}')["has_more"] is False


async def test_csv_and_json_pages_say_the_same_with_times_to_the_microsecond(client, school, incident_body):
    """The CSV is built apart from the JSON (it is the fast path): the two must not drift."""
    first = await report(client, school, incident_body(occurred_at="2026-09-06T19:30:00.250000Z"))
    ids = [first["id"]] + [(await report(client, school, incident_body()))["id"] for _ in range(9)]
    lead = school.headers("safeguarding_lead")
    # Three actions in the same second: oldest first by the fraction, not by text or by arrival.
    for at, kind in (
        ("2026-09-07T08:00:00.900000Z", "parents_informed"),
        ("2026-09-07T08:00:00Z", "note"),
        ("2026-09-07T08:00:00.100000Z", "parents_informed"),
    ):
        body = {"kind": kind, "occurred_at": at}
        if kind == "note":
            body["note"] = "Spoke to the class teacher."
        response = await client.post(f"/v1/incidents/{ids[0]}/actions", json=body, headers=lead)
        assert response.status_code == 201, response.text

    page = (await pull(client, school.headers("la"), limit=100)).json()
    response = await pull(client, school.headers("la"), fmt="csv", limit=100)
    rows = list(csv.DictReader(io.StringIO(response.text)))

    items = {item["id"]: item for item in page["items"]}
    assert [r["id"] for r in rows] == [i["id"] for i in page["items"]] and len(rows) == 10
    changed = items[ids[0]]
    assert changed["occurred_at"] == "2026-09-06T19:30:00.250000Z"
    assert [(a["kind"], a["occurred_at"]) for a in changed["actions"]] == [
        ("note", "2026-09-07T08:00:00Z"),
        ("parents_informed", "2026-09-07T08:00:00.100000Z"),
        ("parents_informed", "2026-09-07T08:00:00.900000Z"),
    ]
    for row in rows:
        item = items[row["id"]]
        for field in ("reference", "school_id", "category", "severity", "status", "location"):
            assert row[field] == item[field]
        for field in ("occurred_at", "recorded_at", "updated_at"):
            assert row[field] == item[field] and item[field].endswith("Z")
        people = ";".join(f"{p['pseudonym']}:{p['role']}:{p['year_group'] or ''}" for p in item["people"])
        assert row["people"] == people
        actions = ";".join(
            a["kind"]
            + "".join(f"/{a[k]}" for k in ("sanction", "decision", "referred_to") if k in a)
            + "@"
            + a["occurred_at"]
            for a in item["actions"]
        )
        assert row["actions"] == actions
    # The same two pupils in every incident, across chunks (7 rows each here): one pseudonym each.
    assert {row["people"] for row in rows} == {rows[0]["people"]}
    assert "Spoke to" not in response.text


async def test_x_remaining_is_exact_across_blocks_of_the_feed(
    client, app, tokens, school, incident_body, monkeypatch
):
    """The LA's progress count comes from per-school counts of blocks of feed numbers plus a count
    within one block (incidents.incident.models.IncidentSeqBucket): with blocks of 4 numbers, and
    incidents changed again (moving to later blocks), every page's `X-Remaining` is what is left."""
    from incidents.incident import service as incident_service
    from incidents.incident.models import Incident, IncidentSeqBucket
    from incidents.reporting import service as reporting_service

    monkeypatch.setattr(incident_service, "SEQ_BUCKET", 4)
    monkeypatch.setattr(reporting_service, "SEQ_BUCKET", 4)
    sibling = await add_school(app, tokens, la_code=school.la_code)
    elsewhere = await add_school(app, tokens, la_code="305")
    ids = []
    for n in range(14):
        at = (school, sibling, elsewhere)[n % 3]
        ids.append((at, (await report(client, at, incident_body(people=[])))["id"]))
    lead = school.headers("safeguarding_lead")
    for _, incident_id in [pair for pair in ids if pair[0] is school][:3]:
        changed = await client.patch(
            f"/v1/incidents/{incident_id}",
            json={"status": "closed"},
            headers={**lead, "If-Match": f'"{incident_id}.1"'},
        )
        assert changed.status_code == 200, changed.text

    async with app.state.sessionmaker() as session:
        kept = {
            (row.school_id, row.bucket): row.incidents
            for row in await session.scalars(select(IncidentSeqBucket))
            if row.incidents
        }
        counted: dict = {}
        for incident in await session.scalars(select(Incident)):
            key = (incident.school_id, incident.change_seq // 4)
            counted[key] = counted.get(key, 0) + 1
    assert kept == counted

    la = school.headers("la")
    ours = 10  # 5 at the school and 5 at its sibling (of 14: every third elsewhere)
    for limit in (1, 3, 4, 5):
        seen, cursor = 0, None
        while True:
            page = await pull(client, la, fmt="csv", limit=limit, cursor=cursor)
            assert page.status_code == 200, page.text
            seen += len(list(csv.DictReader(io.StringIO(page.text))))
            assert int(page.headers["X-Remaining"]) == ours - seen, (limit, seen)
            cursor = page.headers["X-Next-Cursor"]
            if page.headers["X-Has-More"] == "false":
                break
        assert seen == ours
