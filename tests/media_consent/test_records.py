"""Consent records: who may give them, versions kept, idempotent retries, If-Match, school bounds."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select

from media_consent.consent.models import ConsentVersion
from servicekit.models import AuditEntry
from tests.media_consent.conftest import BASE, record_consent
from tests.world import School


def form(pupil_id: uuid.UUID, given_by: uuid.UUID, **extra: object) -> dict:
    return {
        "pupil_id": str(pupil_id),
        "given_by": str(given_by),
        "grants": [{"purpose": "website", "media_type": "photo", "level": "group"}],
        "form_dated_on": "2026-09-02",
        **extra,
    }


async def test_a_form_becomes_version_one_with_its_paper_details(
    client: httpx.AsyncClient, school: School
) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    office = school.headers("office")
    response = await client.post(
        f"{BASE}/records", json=form(amy, carer, valid_until="2027-08-31"), headers=office
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    version = response.json()["version"]
    assert version["version"] == 1
    assert version["source"] == "paper_form"
    assert version["form_dated_on"] == "2026-09-02"
    assert version["collected_by"] == str(school.staff["office"])
    assert version["given_by"] == str(carer)
    levels = {(g["purpose"], g["media_type"]): g["level"] for g in version["grants"]}
    assert len(levels) == 14
    assert levels[("website", "photo")] == "group"
    assert levels[("website", "video")] == "none"  # pairs not listed are none


async def test_every_version_is_kept(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    office = school.headers("office")
    await client.post(f"{BASE}/records", json=form(amy, carer), headers=office)
    second = form(amy, carer, grants=[{"purpose": "press", "media_type": "video", "level": "individual"}])
    assert (await client.post(f"{BASE}/records", json=second, headers=office)).status_code == 201
    await client.post(f"{BASE}/pupils/{amy}/withdrawals", json={"given_by": str(carer)}, headers=office)
    view = await client.get(f"{BASE}/pupils/{amy}", headers=office)
    assert view.status_code == 200
    assert view.headers["cache-control"] == "no-store"
    assert view.headers["etag"] == '"3"'
    body = view.json()
    assert [(v["version"], v["kind"]) for v in body["versions"]] == [
        (1, "recorded"),
        (2, "recorded"),
        (3, "withdrawn"),
    ]
    first_levels = {(g["purpose"], g["media_type"]): g["level"] for g in body["versions"][0]["grants"]}
    assert first_levels[("website", "photo")] == "group"  # history is not rewritten by later versions
    assert body["current"]["version"] == 3
    assert all(g["level"] == "none" for g in body["current"]["grants"])
    assert "never_publish" not in body or body["never_publish"] is None  # the office does not see the flag


async def test_an_idempotent_retry_creates_one_version(
    client: httpx.AsyncClient, school: School, app
) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    headers = {**school.headers("office"), "Idempotency-Key": "form-2026-amy"}
    first = await client.post(f"{BASE}/records", json=form(amy, carer), headers=headers)
    again = await client.post(f"{BASE}/records", json=form(amy, carer), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    async with app.state.sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(ConsentVersion.pupil_id == amy))
    assert count == 1
    other_body = await client.post(
        f"{BASE}/records", json=form(amy, carer, valid_until="2027-01-01"), headers=headers
    )
    assert other_body.status_code == 422


async def test_given_by_must_have_parental_responsibility(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    no_pr = await school.add_carer(amy, parental_responsibility=False)
    bens_mum = await school.add_carer(ben)
    lapsed = await school.add_carer(amy, is_active=False)
    office = school.headers("office")
    for given_by in (no_pr, bens_mum, lapsed, uuid.uuid4(), school.staff["office"]):
        response = await client.post(f"{BASE}/records", json=form(amy, given_by), headers=office)
        assert response.status_code == 422, given_by
        assert "parental responsibility" in response.json()["detail"]
    view = await client.get(f"{BASE}/pupils/{amy}", headers=office)
    assert view.json()["versions"] == []


async def test_paper_details_are_checked(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    office = school.headers("office")
    outsider = other_school.staff["office"]
    cases = [
        form(amy, carer, form_dated_on=None),
        form(amy, carer, form_dated_on="2026-12-25"),
        form(amy, carer, collected_by=str(outsider)),
        form(amy, carer, collected_by=str(carer)),
        form(amy, carer, valid_until="2026-01-01"),
        form(amy, carer, grants=[{"purpose": "website", "media_type": "photo", "level": "group"}] * 2),
        form(amy, carer, grants=[{"purpose": "website", "media_type": "photo", "level": "all"}]),
        form(amy, carer, extra_field=True),
    ]
    for body in cases:
        response = await client.post(f"{BASE}/records", json=body, headers=office)
        assert response.status_code == 422, body


async def test_consent_dates_are_yyyy_mm_dd_text_never_numbers(
    client: httpx.AsyncClient, school: School, app
) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    office = school.headers("office")
    parent = school.headers("parent", person_id=carer)
    grants = [{"purpose": "mle", "media_type": "photo", "level": "individual"}]
    # Pydantic alone would read 0 as 1970-01-01 and 1788739200 as 2026-09-07 (seconds since 1970).
    attempts = [
        (f"{BASE}/records", form(amy, carer, valid_until=0), office, "valid_until"),
        (f"{BASE}/records", form(amy, carer, valid_until="0.5"), office, "valid_until"),
        (f"{BASE}/records", form(amy, carer, form_dated_on=1788739200), office, "form_dated_on"),
        (f"{BASE}/children/{amy}/records", {"grants": grants, "valid_until": 0}, parent, "valid_until"),
        (f"{BASE}/children/{amy}/records", {"grants": grants, "valid_until": True}, parent, "valid_until"),
    ]
    for url, body, headers, field in attempts:
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["field"] == f"body.{field}" and "YYYY-MM-DD" in error["message"]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(ConsentVersion.pupil_id == amy)) == 0
    assert (await client.get(f"{BASE}/pupils/{amy}", headers=office)).json()["current"] is None


async def test_another_schools_pupil_is_not_found(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    theirs = await other_school.add_pupil()
    carer = await other_school.add_carer(theirs)
    office = school.headers("office")
    assert (await client.post(f"{BASE}/records", json=form(theirs, carer), headers=office)).status_code == 404
    assert (await client.get(f"{BASE}/pupils/{theirs}", headers=office)).status_code == 404
    withdraw = await client.post(
        f"{BASE}/pupils/{theirs}/withdrawals", json={"given_by": str(carer)}, headers=office
    )
    assert withdraw.status_code == 404


async def test_who_may_enter_and_read_consent(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    for role in ("teacher", "computing_lead", "governor", "safeguarding_lead"):
        response = await client.post(f"{BASE}/records", json=form(amy, carer), headers=school.headers(role))
        assert response.status_code == 403, role
    response = await client.post(f"{BASE}/records", json=form(amy, carer), headers=school.headers("mle"))
    assert response.status_code == 403
    head = await client.post(f"{BASE}/records", json=form(amy, carer), headers=school.headers("head_teacher"))
    assert head.status_code == 201
    assert (await client.get(f"{BASE}/pupils/{amy}", headers=school.headers("teacher"))).status_code == 403
    assert (await client.get(f"{BASE}/pupils/{amy}", headers=school.headers("mle"))).status_code == 403


async def test_nobody_edits_history(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, {"website/photo": "group"})
    head = school.headers("head_teacher")
    for method in ("PUT", "PATCH", "DELETE"):
        response = await client.request(method, f"{BASE}/pupils/{amy}", json={}, headers=head)
        assert response.status_code == 405, method


async def test_a_stale_if_match_is_refused(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    office = school.headers("office")
    await client.post(f"{BASE}/records", json=form(amy, carer), headers=office)
    fresh = await client.post(f"{BASE}/records", json=form(amy, carer), headers={**office, "If-Match": '"1"'})
    assert fresh.status_code == 201
    stale = await client.post(f"{BASE}/records", json=form(amy, carer), headers={**office, "If-Match": '"1"'})
    assert stale.status_code == 412


async def test_withdrawal_rules(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    pr = await school.add_carer(amy)
    no_pr = await school.add_carer(amy, parental_responsibility=False)
    office = school.headers("office")
    none_yet = await client.post(
        f"{BASE}/pupils/{amy}/withdrawals", json={"given_by": str(pr)}, headers=office
    )
    assert none_yet.status_code == 409
    await record_consent(
        client, school, amy, {"website/photo": "individual", "mle/photo": "individual"}, given_by=pr
    )
    stranger = await client.post(
        f"{BASE}/pupils/{amy}/withdrawals", json={"given_by": str(uuid.uuid4())}, headers=office
    )
    assert stranger.status_code == 422
    # Any carer of the pupil may withdraw: it only ever narrows what may be published.
    response = await client.post(
        f"{BASE}/pupils/{amy}/withdrawals",
        json={"given_by": str(no_pr), "purposes": ["website"]},
        headers=office,
    )
    assert response.status_code == 201
    version = response.json()["version"]
    assert version["withdrawn_purposes"] == ["website"]
    levels = {(g["purpose"], g["media_type"]): g["level"] for g in version["grants"]}
    assert levels[("website", "photo")] == "none"
    assert levels[("mle", "photo")] == "individual"


async def test_changes_are_audited(client: httpx.AsyncClient, school: School, app) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, {"website/photo": "group"})
    async with app.state.sessionmaker() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(amy)))).all()
    assert [e.action for e in entries] == ["consent.recorded"]
    assert entries[0].actor.startswith("user:")
    assert entries[0].school_id == school.id
