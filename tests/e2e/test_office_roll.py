"""The office system keeps the roll in step through the gateway, as docs/office-integration.md shows:
a dry run changes nothing, the import creates pupils and carers, the same roll again is unchanged,
and a bad UPN is refused on its own."""

from __future__ import annotations

import uuid

from identity.people.upn import check_letter
from tests.platform import RunningPlatform


def upn(serial: int) -> str:
    body = f"202{uuid.uuid4().int % 10000:04d}26{serial:03d}"
    return check_letter(body) + body


def test_office_client_imports_the_roll_through_the_gateway(platform: RunningPlatform) -> None:
    school = platform.new_school()
    office = school.client_headers(["people:read", "people:import"], client_id="office-roll")
    pupils = [upn(i) for i in range(1, 4)]
    bad = "A" + pupils[0][1:]  # a wrong check letter
    lines = [
        "external_ref,kind,given_name,family_name,year_group,carer_of,relationship,parental_responsibility"
    ]
    lines += [f"{ref},pupil,Pupil{i},Family{i},4,,," for i, ref in enumerate(pupils)]
    lines += [f"MIS-C-{i},parent,Carer{i},Family{i},,{ref},mother,true" for i, ref in enumerate(pupils)]
    lines.append(f"{bad},pupil,Bad,Upn,4,,,")
    roll = "\n".join(lines) + "\n"
    headers = {**office, "Content-Type": "text/csv"}

    dry = platform.gateway.post(
        "/v1/identity/people/imports", params={"dry_run": "true"}, content=roll, headers=headers
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["counts"]["created"] == 6
    found = platform.gateway.get("/v1/identity/people", params={"external_ref": pupils[0]}, headers=office)
    assert found.json()["items"] == []

    first = platform.gateway.post("/v1/identity/people/imports", content=roll, headers=headers)
    assert first.status_code == 200, first.text
    counts = first.json()["counts"]
    assert (counts["created"], counts["refused"]) == (6, 1)
    refused = [r for r in first.json()["rows"] if r["status"] == "refused"]
    assert refused[0]["external_ref"] == bad
    assert refused[0]["reason"]

    again = platform.gateway.post("/v1/identity/people/imports", content=roll, headers=headers)
    assert again.json()["counts"]["unchanged"] == 6
    assert again.json()["counts"]["created"] == 0
    found = platform.gateway.get("/v1/identity/people", params={"external_ref": pupils[0]}, headers=office)
    assert [p["given_name"] for p in found.json()["items"]] == ["Pupil0"]
