"""School hardware: the inventory, look-ups, loans, anti-virus scans, WEEE disposal, the CSV report."""

from __future__ import annotations

import csv
import io

import httpx

from servicekit.clock import FrozenClock
from tests.world import School

ASSETS = "/v1/devices/assets"
LOANS = "/v1/devices/asset-loans"


def laptop(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "asset_tag": "STAR-0042",
        "kind": "laptop",
        "make": "Dell",
        "model": "Latitude 3540",
        "serial_number": "7XK2P93",
        "location": "Staff room trolley",
        "holds_personal_data": True,
        "is_encrypted": True,
    }
    body.update(overrides)
    return body


async def add(client: httpx.AsyncClient, school: School, **overrides: object) -> dict:
    response = await client.post(ASSETS, json=laptop(**overrides), headers=school.headers("computing_lead"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_inventory_and_lookup_by_tag_or_serial(client: httpx.AsyncClient, school: School) -> None:
    item = await add(client, school)
    assert item["status"] == "in_service"
    await add(
        client, school, asset_tag="STAR-0043", serial_number="ZZ999", kind="tablet", holds_personal_data=False
    )
    office = school.headers("office")
    by_tag = (await client.get(ASSETS, params={"asset_tag": "STAR-0042"}, headers=office)).json()["items"]
    assert [a["id"] for a in by_tag] == [item["id"]]
    by_serial = (await client.get(ASSETS, params={"serial_number": "7XK2P93"}, headers=office)).json()[
        "items"
    ]
    assert [a["id"] for a in by_serial] == [item["id"]]
    duplicate = await client.post(ASSETS, json=laptop(), headers=school.headers("computing_lead"))
    assert duplicate.status_code == 409
    # The office may read the inventory but not change it; a teacher may not even read it.
    assert (await client.post(ASSETS, json=laptop(asset_tag="X"), headers=office)).status_code == 403
    assert (await client.get(ASSETS, headers=school.headers("teacher"))).status_code == 403


async def test_changes_need_a_current_etag(client: httpx.AsyncClient, school: School) -> None:
    item = await add(client, school)
    lead = school.headers("computing_lead")
    url = f"{ASSETS}/{item['id']}"
    assert (await client.patch(url, json={"location": "ICT suite"}, headers=lead)).status_code == 428
    etag = (await client.get(url, headers=lead)).headers["ETag"]
    changed = await client.patch(
        url, json={"location": "ICT suite", "status": "in_repair"}, headers={**lead, "If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["status"] == "in_repair"
    stale = await client.patch(url, json={"location": "Office"}, headers={**lead, "If-Match": etag})
    assert stale.status_code == 412
    fresh = changed.headers["ETag"]
    for body in (
        {"status": "disposed"},
        {"status": "on_loan"},
        {"make": None},
        {"school_id": str(school.id)},
    ):
        assert (await client.patch(url, json=body, headers={**lead, "If-Match": fresh})).status_code == 422, (
            body
        )
    assert (await client.get(url, headers=lead)).json()["location"] == "ICT suite"


async def test_loans_overdue_and_returns(
    client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    item = await add(client, school)
    lend = {
        "borrower_id": str(school.staff["teacher"]),
        "due_on": "2026-09-11",
        "purpose": "Planning at home",
    }
    loan = await client.post(
        f"{ASSETS}/{item['id']}/loans", json=lend, headers=school.headers("computing_lead")
    )
    assert loan.status_code == 201, loan.text
    assert (await client.get(f"{ASSETS}/{item['id']}", headers=school.headers("office"))).json()[
        "status"
    ] == "on_loan"
    twice = await client.post(
        f"{ASSETS}/{item['id']}/loans", json=lend, headers=school.headers("computing_lead")
    )
    assert twice.status_code == 409
    for borrower in (school.pupils[0], school.leavers[0]):
        other = await add(client, school, asset_tag=f"T-{borrower.hex[:6]}", serial_number=None)
        refused = await client.post(
            f"{ASSETS}/{other['id']}/loans",
            json={**lend, "borrower_id": str(borrower)},
            headers=school.headers("computing_lead"),
        )
        assert refused.status_code == 422

    assert (await client.get(LOANS, params={"state": "overdue"}, headers=school.headers("office"))).json()[
        "items"
    ] == []
    clock.advance(days=5)
    overdue = (await client.get(LOANS, params={"state": "overdue"}, headers=school.headers("office"))).json()[
        "items"
    ]
    assert [(o["id"], o["asset_tag"], o["is_overdue"]) for o in overdue] == [
        (loan.json()["id"], "STAR-0042", True)
    ]

    returned = await client.post(
        f"{LOANS}/{loan.json()['id']}/return", json={}, headers=school.headers("computing_lead")
    )
    assert returned.status_code == 200
    assert returned.json()["returned_at"] == "2026-09-12T08:30:00Z"
    again = await client.post(
        f"{LOANS}/{loan.json()['id']}/return", json={}, headers=school.headers("computing_lead")
    )
    assert again.status_code == 409
    assert (await client.get(LOANS, params={"state": "overdue"}, headers=school.headers("office"))).json()[
        "items"
    ] == []
    assert (await client.get(f"{ASSETS}/{item['id']}", headers=school.headers("office"))).json()[
        "status"
    ] == "in_service"


async def test_stale_scans(client: httpx.AsyncClient, school: School, clock: FrozenClock) -> None:
    scanned = await add(client, school)
    never = await add(client, school, asset_tag="STAR-0050", serial_number="NEVER1")
    lead = school.headers("computing_lead")
    scan = {"scanned_at": "2026-09-07T08:00:00Z", "tool": "Sophos Endpoint", "result": "clean"}
    response = await client.post(f"{ASSETS}/{scanned['id']}/scans", json=scan, headers=lead)
    assert response.status_code == 201
    future = {**scan, "scanned_at": "2026-09-08T08:00:00Z"}
    assert (
        await client.post(f"{ASSETS}/{scanned['id']}/scans", json=future, headers=lead)
    ).status_code == 422
    stale = (await client.get(f"{ASSETS}/stale-scans", headers=lead)).json()
    assert [s["asset"]["id"] for s in stale] == [never["id"]]
    clock.advance(days=31)
    stale = (await client.get(f"{ASSETS}/stale-scans", headers=school.headers("computing_lead"))).json()
    assert {s["asset"]["id"] for s in stale} == {never["id"], scanned["id"]}
    # A scan that found threats is recorded but does not count as clean.
    dirty = {"scanned_at": "2026-10-08T08:00:00Z", "tool": "Sophos Endpoint", "result": "threats_found"}
    await client.post(f"{ASSETS}/{scanned['id']}/scans", json=dirty, headers=school.headers("computing_lead"))
    stale = (await client.get(f"{ASSETS}/stale-scans", headers=school.headers("computing_lead"))).json()
    assert scanned["id"] in {s["asset"]["id"] for s in stale}
    scans = (await client.get(f"{ASSETS}/{scanned['id']}/scans", headers=school.headers("office"))).json()
    assert [s["result"] for s in scans] == ["threats_found", "clean"]


async def test_disposal_of_equipment_that_held_personal_data(
    client: httpx.AsyncClient, school: School
) -> None:
    item = await add(client, school)
    lead = school.headers("computing_lead")
    url = f"{ASSETS}/{item['id']}/disposal"
    base = {"disposed_on": "2026-09-07", "agency": "Green IT Recycling Ltd", "receipt_reference": "GIT-5531"}
    refused = [
        {**base, "data_destruction": "no_storage"},
        {**base, "data_destruction": "forensic_wipe"},
        {
            **base,
            "data_destruction": "physically_destroyed",
            "certificate_reference": "C-1",
            "disposed_on": "2027-01-01",
        },
        {
            "disposed_on": "2026-09-07",
            "agency": "Green IT",
            "data_destruction": "forensic_wipe",
            "certificate_reference": "C-1",
        },
    ]
    for body in refused:
        response = await client.post(url, json=body, headers=lead)
        assert response.status_code == 422, body
        assert (await client.get(f"{ASSETS}/{item['id']}", headers=lead)).json()["status"] == "in_service"
    ok = {**base, "data_destruction": "forensic_wipe", "certificate_reference": "WIPE-88121"}
    disposed = await client.post(url, json=ok, headers=lead)
    assert disposed.status_code == 201, disposed.text
    assert (await client.get(f"{ASSETS}/{item['id']}", headers=lead)).json()["status"] == "disposed"
    assert (await client.get(url, headers=school.headers("office"))).json()[
        "certificate_reference"
    ] == "WIPE-88121"
    assert (await client.post(url, json=ok, headers=lead)).status_code == 409

    no_data = await add(
        client,
        school,
        asset_tag="STAR-0099",
        serial_number=None,
        kind="projector",
        holds_personal_data=False,
        is_encrypted=False,
    )
    plain = await client.post(
        f"{ASSETS}/{no_data['id']}/disposal", json={**base, "data_destruction": "no_storage"}, headers=lead
    )
    assert plain.status_code == 201


async def test_inventory_report_csv(client: httpx.AsyncClient, school: School, other_school: School) -> None:
    await add(client, school)
    await add(client, school, asset_tag="STAR-0001", serial_number='=HYPERLINK("http://x")', kind="camera")
    response = await client.get(f"{ASSETS}/report.csv", headers=school.headers("computing_lead"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["asset_tag"] for r in rows] == ["STAR-0001", "STAR-0042"]
    assert rows[1]["holds_personal_data"] == "yes"
    assert rows[0]["serial_number"].startswith("'=")
    theirs = await client.get(f"{ASSETS}/report.csv", headers=other_school.headers("computing_lead"))
    assert list(csv.DictReader(io.StringIO(theirs.text))) == []


async def test_another_schools_equipment_is_404(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    item = await add(client, school)
    theirs = other_school.headers("computing_lead")
    loan = await client.post(
        f"{ASSETS}/{item['id']}/loans",
        json={"borrower_id": str(school.staff["teacher"]), "due_on": "2026-09-30"},
        headers=school.headers("computing_lead"),
    )
    attempts = [
        client.get(f"{ASSETS}/{item['id']}", headers=theirs),
        client.patch(f"{ASSETS}/{item['id']}", json={"location": "x"}, headers={**theirs, "If-Match": '"1"'}),
        client.get(f"{ASSETS}/{item['id']}/scans", headers=theirs),
        client.post(f"{LOANS}/{loan.json()['id']}/return", json={}, headers=theirs),
        client.post(
            f"{ASSETS}/{item['id']}/disposal",
            json={
                "disposed_on": "2026-09-07",
                "agency": "A",
                "receipt_reference": "R",
                "data_destruction": "no_storage",
            },
            headers=theirs,
        ),
    ]
    for attempt in attempts:
        assert (await attempt).status_code == 404
    assert (await client.get(ASSETS, params={"asset_tag": "STAR-0042"}, headers=theirs)).json()["items"] == []


def assert_date_refused(response: httpx.Response, field: str, expected: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == f"body.{field}" and expected in error["message"]


async def test_dates_and_times_in_bodies_are_text_never_numbers(
    client: httpx.AsyncClient, school: School
) -> None:
    lead = school.headers("computing_lead")
    bought = await client.post(ASSETS, json=laptop(purchased_on=1700000000), headers=lead)
    assert_date_refused(bought, "purchased_on", "YYYY-MM-DD")
    assert (await client.get(ASSETS, headers=lead)).json()["items"] == []

    item = await add(client, school)
    url = f"{ASSETS}/{item['id']}"
    changed = await client.patch(url, json={"purchased_on": "0"}, headers={**lead, "If-Match": '"1"'})
    assert_date_refused(changed, "purchased_on", "YYYY-MM-DD")
    lend = {"borrower_id": str(school.staff["teacher"]), "due_on": 0}
    assert_date_refused(await client.post(f"{url}/loans", json=lend, headers=lead), "due_on", "YYYY-MM-DD")
    for scanned_at in (1700000000, "0.5", "2026-09-07T08:00:00"):
        scan = {"scanned_at": scanned_at, "tool": "Sophos Endpoint", "result": "clean"}
        assert_date_refused(
            await client.post(f"{url}/scans", json=scan, headers=lead), "scanned_at", "RFC 3339"
        )
    disposal = {
        "disposed_on": True,
        "agency": "Green IT Recycling Ltd",
        "receipt_reference": "GIT-5531",
        "data_destruction": "forensic_wipe",
        "certificate_reference": "WIPE-88121",
    }
    disposed = await client.post(f"{url}/disposal", json=disposal, headers=lead)
    assert_date_refused(disposed, "disposed_on", "YYYY-MM-DD")

    after = (await client.get(url, headers=lead)).json()
    assert after["status"] == "in_service" and after["purchased_on"] is None
    assert after["last_clean_scan_at"] is None and after["updated_at"] == item["updated_at"]
    assert (await client.get(f"{url}/scans", headers=lead)).json() == []
    assert (await client.get(LOANS, headers=school.headers("office"))).json()["items"] == []
    assert (await client.get(f"{url}/disposal", headers=lead)).status_code == 404


async def test_a_search_holding_a_nul_character_is_a_422_the_schema_announces(
    client: httpx.AsyncClient, school: School, app
) -> None:
    """PostgreSQL's text holds no NUL: a filter with one is refused by the schema's own pattern,
    not by the database as "out of range" (which the published schema did not say)."""
    head = school.headers("head_teacher")
    for path, name in (("/v1/devices/audit", "action"), ("/v1/devices/assets", "serial_number")):
        refused = await client.get(path, params={name: "a\x00b"}, headers=head)
        assert refused.status_code == 422, (path, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == [f"query.{name}"]
        assert (await client.get(path, params={name: "ab"}, headers=head)).status_code == 200
    schema = app.openapi()["paths"]["/v1/devices/audit"]["get"]["parameters"]
    action = next(p for p in schema if p["name"] == "action")
    assert action["schema"]["anyOf"][0]["pattern"] == "^[^\\x00]*$"
