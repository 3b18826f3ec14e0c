"""Importing a roll from the MIS: upserts by UPN, a line per row, dry runs, leavers."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from identity.changes.models import PeopleChange
from identity.config import IdentitySettings
from identity.imports.schemas import MAX_ROWS
from identity.people.models import CarerLink, Person
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.people_helpers import make_school, staff, upn

IMPORTS = "/v1/identity/people/imports"
COLUMNS = [
    "external_ref", "kind", "given_name", "family_name", "year_group",
    "carer_of", "relationship", "parental_responsibility",
]  # fmt: skip
YEARS = ["N", "R", "1", "2", "3", "4", "5", "6"]


def roll_rows(pupils: int = 500) -> list[dict[str, str]]:
    """`pupils` pupils, each with a mother (parental responsibility); every fifth also a grandad."""
    rows: list[dict[str, str]] = []
    for n in range(pupils):
        ref = upn(n)
        rows.append({"external_ref": ref, "kind": "pupil", "given_name": f"Child{n}",
                     "family_name": f"Family{n}", "year_group": YEARS[n % len(YEARS)]})  # fmt: skip
        rows.append({"external_ref": f"C{n:05d}", "kind": "parent", "given_name": f"Mum{n}",
                     "family_name": f"Family{n}", "carer_of": ref, "relationship": "mother",
                     "parental_responsibility": "true"})  # fmt: skip
        if n % 5 == 0:
            rows.append({"external_ref": f"G{n:05d}", "kind": "parent", "given_name": f"Grandad{n}",
                         "family_name": f"Family{n}", "carer_of": ref, "relationship": "grandparent",
                         "parental_responsibility": "no"})  # fmt: skip
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def send_csv(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        IMPORTS, content=body, params=params, headers={**headers, "Content-Type": "text/csv"}
    )


async def count(app: Any, model: Any, *where: Any) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_roll_of_500_pupils_and_their_carers(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    rows = roll_rows(500)
    body = to_csv(rows)

    first = await send_csv(client, office, body)
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["counts"] == {"created": len(rows), "updated": 0, "unchanged": 0, "refused": 0, "left": 0}
    assert [line["row"] for line in report["rows"]] == list(range(2, len(rows) + 2))  # CSV line numbers
    assert await count(app, Person, Person.kind == "pupil") == 500
    assert await count(app, CarerLink, CarerLink.is_active.is_(True)) == 600
    assert await count(app, CarerLink, CarerLink.has_parental_responsibility.is_(True)) == 500

    # The MIS can now find a pupil by UPN and see their carers.
    mis = tokens.headers(scopes=["people:read"], client_id="mis", school_id=school)
    found = (await client.get("/v1/identity/people", params={"external_ref": upn(0)}, headers=mis)).json()
    pupil = found["items"][0]
    assert (pupil["given_name"], pupil["year_group"]) == ("Child0", "N")
    carers = (await client.get(f"/v1/identity/people/{pupil['id']}/carers", headers=mis)).json()["items"]
    assert sorted(c["relationship"] for c in carers) == ["grandparent", "mother"]

    changes_before = await count(app, PeopleChange)
    async with app.state.sessionmaker() as session:
        feed_before = await session.scalar(select(func.max(PeopleChange.change_seq)))
    second = await send_csv(client, office, body)
    assert second.json()["counts"] == {
        "created": 0, "updated": 0, "unchanged": len(rows), "refused": 0, "left": 0,
    }  # fmt: skip
    assert {line["status"] for line in second.json()["rows"]} == {"unchanged"}
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.max(PeopleChange.change_seq))) == feed_before
        imported = (
            await session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "people.imported"))
        ).all()
    assert await count(app, PeopleChange) == changes_before
    assert [entry["created"] for entry in imported] == [len(rows), 0]


async def test_a_bad_upn_is_refused_and_the_others_go_in(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    rows = roll_rows(3)  # pupil0, mum0, grandad0, pupil1, mum1, pupil2, mum2
    good = rows[0]["external_ref"]
    valid = rows[3]["external_ref"]
    bad = ("A" if valid[0] != "A" else "B") + valid[1:]  # a mistyped check letter
    rows[3]["external_ref"] = rows[4]["carer_of"] = bad  # mum1 is refused too: nothing to link to
    response = await send_csv(client, staff(tokens, school, "office"), to_csv(rows))
    lines = {line["row"]: line for line in response.json()["rows"]}  # CSV line = index + 2
    refused = lines[5]
    assert refused["status"] == "refused" and refused["external_ref"] == bad
    assert "check letter" in refused["reason"]
    assert lines[6]["status"] == "refused" and "carer_of" in lines[6]["reason"]
    assert response.json()["counts"]["refused"] == 2
    assert response.json()["counts"]["created"] == len(rows) - 2
    assert await count(app, Person, Person.external_ref == bad) == 0
    assert await count(app, Person, Person.external_ref == good) == 1


async def test_a_dry_run_changes_nothing(client: httpx.AsyncClient, tokens: TokenFactory, app) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    rows = roll_rows(5)
    await send_csv(client, office, to_csv(rows[:4]))
    people_before = await count(app, Person)
    changes_before = await count(app, PeopleChange)
    audits_before = await count(app, AuditEntry)
    rows[0]["given_name"] = "Renamed"
    dry = await send_csv(client, office, to_csv(rows[1:]), dry_run="true", mark_absent_as_left="true")
    assert dry.status_code == 200
    report = dry.json()
    assert report["dry_run"] is True
    assert report["counts"]["created"] == len(rows) - 4 and report["counts"]["left"] == 1
    assert all(line["person_id"] is None for line in report["rows"] if line["status"] == "created")
    assert await count(app, Person) == people_before
    assert await count(app, Person, Person.is_on_roll.is_(False)) == 0
    assert await count(app, PeopleChange) == changes_before
    assert await count(app, AuditEntry) == audits_before


async def test_mark_absent_as_left(client: httpx.AsyncClient, tokens: TokenFactory, app) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    rows = roll_rows(10)
    await send_csv(client, office, to_csv(rows))
    gone = {upn(3), upn(7)}
    remaining = [r for r in rows if r["external_ref"] not in gone and r.get("carer_of") not in gone]
    kept_without_flag = await send_csv(client, office, to_csv(remaining))
    assert kept_without_flag.json()["counts"]["left"] == 0
    assert await count(app, Person, Person.is_on_roll.is_(False)) == 0

    response = await send_csv(client, office, to_csv(remaining), mark_absent_as_left="true")
    report = response.json()
    assert {line["external_ref"] for line in report["left"]} == gone and report["counts"]["left"] == 2
    leavers = await count(app, Person, Person.is_on_roll.is_(False), Person.external_ref.in_(gone))
    assert leavers == 2
    assert await count(app, Person, Person.is_on_roll.is_(False)) == 2  # carers are not marked
    # A leaver who reappears on the roll is back on roll (an update).
    back = await send_csv(client, office, to_csv(rows))
    statuses = {
        line["external_ref"]: line["status"] for line in back.json()["rows"] if line["kind"] == "pupil"
    }
    assert statuses[upn(3)] == "updated" and statuses[upn(0)] == "unchanged"
    assert await count(app, Person, Person.is_on_roll.is_(False)) == 0


async def test_a_roll_without_pupils_cannot_mark_everyone_as_left(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    await send_csv(client, office, to_csv(roll_rows(3)))
    empty = await send_csv(client, office, to_csv([]), mark_absent_as_left="true")
    assert empty.status_code == 422
    assert await count(app, Person, Person.is_on_roll.is_(False)) == 0


async def test_json_rolls_and_row_level_refusals(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    ref = upn()
    rows: list[dict[str, Any]] = [
        {"external_ref": ref, "kind": "pupil", "given_name": "A", "family_name": "B", "year_group": "2"},
        {
            "external_ref": "P1",
            "kind": "parent",
            "given_name": "M",
            "family_name": "B",
            "carer_of": ref,
            "relationship": "mother",
            "parental_responsibility": True,
        },
        {"external_ref": upn(), "kind": "pupil", "given_name": "C", "family_name": "D"},  # no year group
        {"external_ref": "S1", "kind": "staff", "given_name": "T", "family_name": "S", "roles": ["x"]},
        {
            "external_ref": "S2",
            "kind": "staff",
            "given_name": "T",
            "family_name": "S",
            "carer_of": ref,
            "relationship": "uncle",
            "parental_responsibility": False,
        },
        {"external_ref": "P1", "kind": "staff", "given_name": "M", "family_name": "B"},  # ref clash
        {"external_ref": ref, "kind": "pupil", "given_name": "A", "family_name": "B", "year_group": "2"},
        {
            "external_ref": "P2",
            "kind": "parent",
            "given_name": "N",
            "family_name": "B",
            "carer_of": "NOPE",
            "relationship": "father",
            "parental_responsibility": True,
        },
    ]
    response = await client.post(IMPORTS, json={"rows": rows}, headers=office)
    assert response.status_code == 200, response.text
    statuses = [(line["row"], line["status"]) for line in response.json()["rows"]]
    assert statuses == [
        (1, "created"), (2, "created"), (3, "refused"), (4, "refused"),
        (5, "refused"), (6, "refused"), (7, "refused"), (8, "refused"),
    ]  # fmt: skip
    reasons = {line["row"]: line["reason"] for line in response.json()["rows"]}
    assert "year_group" in reasons[3] and "roles" in reasons[4] and "parent" in reasons[5]
    assert "parent" in reasons[6] and "twice" in reasons[7] and "NOPE" in reasons[8]
    assert await count(app, Person) == 2
    top_level = await client.post(IMPORTS, json={"rows": [], "school_id": school}, headers=office)
    assert top_level.status_code == 422


async def test_malformed_rolls_are_refused_whole(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    school = await make_school(client, tokens)
    office = staff(tokens, school, "office")
    assert (await send_csv(client, office, b"")).status_code == 422
    assert (await send_csv(client, office, b"external_ref,kind,given_name\nX,pupil,A\n")).status_code == 422
    assert (
        await send_csv(client, office, b"external_ref,kind,given_name,family_name,age\n")
    ).status_code == 422
    assert (await send_csv(client, office, b"\xff\xfe\x00bad")).status_code == 422
    xml = await client.post(
        IMPORTS, content=b"<roll/>", headers={**office, "Content-Type": "application/xml"}
    )
    assert xml.status_code == 415
    assert (
        await client.post(IMPORTS, content=b"{", headers={**office, "Content-Type": "application/json"})
    ).status_code == 422
    too_many = to_csv([{"external_ref": f"S{n}", "kind": "staff", "given_name": "A", "family_name": "B"}
                       for n in range(MAX_ROWS + 1)])  # fmt: skip
    response = await send_csv(client, office, too_many)
    assert response.status_code == 413 and str(MAX_ROWS) in response.json()["detail"]
    assert await count(app, Person) == 0
    extra_cells = await send_csv(
        client, office, b"external_ref,kind,given_name,family_name\nS1,staff,A,B,oops\n"
    )
    assert extra_cells.json()["rows"][0]["status"] == "refused"


def test_the_body_cap_allows_a_5000_row_roll() -> None:
    rows = roll_rows(2500)[:MAX_ROWS]
    for row in rows:  # long, real-looking names
        row["given_name"] = row["given_name"].ljust(30, "x")
        row["family_name"] = row["family_name"].ljust(30, "y")
    assert len(rows) == MAX_ROWS
    assert len(to_csv(rows)) < IdentitySettings().max_body_bytes


async def test_import_is_bound_to_the_callers_school(
    client: httpx.AsyncClient, tokens: TokenFactory, app
) -> None:
    mine = await make_school(client, tokens, "Mine")
    other = await make_school(client, tokens, "Other")
    body = to_csv(roll_rows(1))
    into_other = await send_csv(client, staff(tokens, mine, "office"), body, school_id=other)
    assert into_other.status_code == 422
    teacher = await send_csv(client, staff(tokens, mine, "teacher"), body)
    assert teacher.status_code == 403
    assert await count(app, Person) == 0
    # The school's MIS client, with people:import, imports into its own school.
    mis = tokens.headers(scopes=["people:read", "people:import"], client_id="mis", school_id=mine)
    response = await send_csv(client, mis, body)
    assert response.json()["school_id"] == mine
    assert await count(app, Person, Person.school_id == uuid.UUID(other)) == 0
    # The same external_refs in another school are other people.
    again = await send_csv(client, staff(tokens, other, "office"), body)
    assert again.json()["counts"]["created"] == 3  # pupil, mum, grandad
