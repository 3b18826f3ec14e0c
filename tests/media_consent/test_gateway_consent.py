"""Media consent through the gateway, with identity, the service and the gateway as real processes.

People are made through identity's API and reach the service through its people replica
(`school.sync()` makes the service follow identity's feed now, as it does every few seconds).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, update

from media_consent.consent.models import ConsentCurrent
from servicekit.db import sync_url
from tests.platform import RunningPlatform, SchoolKit

pytestmark = pytest.mark.processes

BASE = "/v1/media-consent"
EVERYTHING = [
    {"purpose": p, "media_type": m, "level": "individual"}
    for p in ("mle", "website", "newsletter")
    for m in ("photo", "video")
]


def record(
    platform: RunningPlatform,
    school: SchoolKit,
    pupil: dict[str, Any],
    carer: dict[str, Any],
    grants: list[dict[str, str]] = EVERYTHING,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "pupil_id": pupil["id"],
        "given_by": carer["id"],
        "grants": grants,
        "form_dated_on": "2026-09-01",
        **extra,
    }
    return platform.gateway.post(
        f"{BASE}/records", json=body, headers={**school.headers("office"), **(headers or {})}
    )


def check(
    platform: RunningPlatform, school: SchoolKit, pupils: Sequence[dict[str, Any] | str], **kwargs: Any
) -> dict[str, Any]:
    body = {
        "purpose": "website",
        "media_type": "photo",
        "framing": "group",
        "pupil_ids": [p if isinstance(p, str) else p["id"] for p in pupils],
        **kwargs,
    }
    response = platform.gateway.post(f"{BASE}/checks", json=body, headers=mle(school))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    return dict(response.json())


def mle(school: SchoolKit) -> dict[str, str]:
    return school.client_headers(["consent:check"], client_id=f"mle-{school.id[:8]}")


def reasons(result: dict[str, Any]) -> dict[str, str | None]:
    return {r["pupil_id"]: r["reason"] for r in result["results"]}


def consented_pupil(platform: RunningPlatform, school: SchoolKit, **names: Any) -> tuple[dict, dict]:
    pupil = school.pupil(**names)
    carer = school.carer(pupil)
    school.sync()
    response = record(platform, school, pupil, carer)
    assert response.status_code == 201, response.text
    return pupil, carer


def test_every_deny_reason_through_the_gateway(platform: RunningPlatform) -> None:
    school = platform.new_school()
    other = platform.new_school()
    theirs = other.pupil()
    leaver = school.pupil(given_name="Lee", family_name="Vance")
    no_record = school.pupil(given_name="Nia", family_name="Roe")
    withdrawn, withdrawn_carer = consented_pupil(platform, school, given_name="Wes", family_name="Dunn")
    expired, _ = consented_pupil(platform, school, given_name="Eve", family_name="Hart")
    low = school.pupil(given_name="Lou", family_name="Park")
    low_carer = school.carer(low)
    restricted, _ = consented_pupil(platform, school, given_name="Rae", family_name="Stone")
    ok, _ = consented_pupil(platform, school, given_name="Amy", family_name="Khan")
    admin = platform.admin_headers
    assert (
        platform.gateway.post(f"/v1/identity/people/{leaver['id']}/leave", headers=admin).status_code == 200
    )
    school.sync()
    assert (
        record(
            platform,
            school,
            low,
            low_carer,
            grants=[{"purpose": "website", "media_type": "photo", "level": "group"}],
        ).status_code
        == 201
    )
    assert (
        platform.gateway.post(
            f"{BASE}/pupils/{withdrawn['id']}/withdrawals",
            json={"given_by": withdrawn_carer["id"]},
            headers=school.headers("office"),
        ).status_code
        == 201
    )
    assert (
        platform.gateway.put(
            f"{BASE}/pupils/{restricted['id']}/never-publish", headers=school.headers("safeguarding_lead")
        ).status_code
        == 200
    )
    # The API never records a date already past, so the stored consent is aged here, as a year would.
    engine = create_engine(sync_url(platform.runner.database_urls["media_consent"]))
    with engine.begin() as conn:
        conn.execute(
            update(ConsentCurrent)
            .where(ConsentCurrent.pupil_id == uuid.UUID(expired["id"]))
            .values(valid_until=(datetime.now(UTC) - timedelta(days=2)).date())
        )
    engine.dispose()

    unknown = str(uuid.uuid4())
    result = check(
        platform,
        school,
        [unknown, theirs, leaver, no_record, withdrawn, expired, low, restricted, ok],
        framing="individual",
    )
    assert result["decision"] == "deny"
    assert reasons(result) == {
        unknown: "unknown_pupil",
        theirs["id"]: "unknown_pupil",
        leaver["id"]: "not_on_roll",
        no_record["id"]: "no_record",
        withdrawn["id"]: "withdrawn",
        expired["id"]: "expired",
        low["id"]: "level_too_low",
        restricted["id"]: "restricted",
        ok["id"]: None,
    }
    assert check(platform, school, [ok], framing="individual")["decision"] == "allow"


def test_name_rules_and_a_group_with_one_refusing_pupil(platform: RunningPlatform) -> None:
    school = platform.new_school()
    group = [consented_pupil(platform, school, given_name=f"Kid{n}", family_name="Able")[0] for n in range(5)]
    refuser = school.pupil(given_name="Ray", family_name="Nolan")
    carer = school.carer(refuser)
    school.sync()
    assert (
        record(
            platform,
            school,
            refuser,
            carer,
            grants=[{"purpose": "mle", "media_type": "photo", "level": "group"}],
        ).status_code
        == 201
    )
    assert check(platform, school, group)["decision"] == "allow"
    result = check(platform, school, [*group, refuser])
    assert result["decision"] == "deny"
    assert [r["pupil_id"] for r in result["results"] if r["decision"] == "deny"] == [refuser["id"]]
    named = check(platform, school, group[:1], filename="kid0_sports_day.jpg")
    assert reasons(named) == {group[0]["id"]: "name_in_filename"}
    captioned = check(platform, school, group[:1], caption="Well done Kid0 Able!", purpose="newsletter")
    assert reasons(captioned) == {group[0]["id"]: "full_name_in_caption"}
    assert (
        check(platform, school, group[:1], caption="Well done Kid0 Able!", purpose="mle")["decision"]
        == "allow"
    )


def test_withdrawal_then_check_and_the_change_feed(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil, carer = consented_pupil(platform, school)
    feed = platform.gateway.get(f"{BASE}/changes", headers=mle(school))
    assert feed.status_code == 200
    page = feed.json()
    assert [(i["pupil_id"], i["kind"]) for i in page["items"]] == [(pupil["id"], "recorded")]
    assert check(platform, school, [pupil])["decision"] == "allow"
    parent = school.headers("parent", person_id=carer["id"])
    withdrawn = platform.gateway.post(f"{BASE}/children/{pupil['id']}/withdrawals", json={}, headers=parent)
    assert withdrawn.status_code == 201, withdrawn.text
    assert reasons(check(platform, school, [pupil])) == {pupil["id"]: "withdrawn"}
    later = platform.gateway.get(
        f"{BASE}/changes", params={"cursor": page["next_cursor"]}, headers=mle(school)
    ).json()
    assert [(i["pupil_id"], i["version"], i["kind"]) for i in later["items"]] == [
        (pupil["id"], 2, "withdrawn")
    ]
    assert later["has_more"] is False


def test_leaver_then_check(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil, _ = consented_pupil(platform, school)
    assert check(platform, school, [pupil])["decision"] == "allow"
    left = platform.gateway.post(f"/v1/identity/people/{pupil['id']}/leave", headers=platform.admin_headers)
    assert left.status_code == 200
    school.sync()  # what the follower does every follow interval
    assert reasons(check(platform, school, [pupil])) == {pupil["id"]: "not_on_roll"}


def test_a_parent_cannot_change_another_familys_child(platform: RunningPlatform) -> None:
    school = platform.new_school()
    mine, my_carer = consented_pupil(platform, school)
    theirs, their_carer = consented_pupil(platform, school, given_name="Ben", family_name="Cole")
    me = school.headers("parent", person_id=my_carer["id"])
    grants = {"grants": [{"purpose": "press", "media_type": "video", "level": "individual"}]}
    assert (
        platform.gateway.post(f"{BASE}/children/{theirs['id']}/records", json=grants, headers=me).status_code
        == 404
    )
    assert (
        platform.gateway.post(f"{BASE}/children/{theirs['id']}/withdrawals", json={}, headers=me).status_code
        == 404
    )
    assert platform.gateway.get(f"{BASE}/children/{theirs['id']}", headers=me).status_code == 404
    staff_route = {
        "pupil_id": theirs["id"],
        "given_by": my_carer["id"],
        **grants,
        "form_dated_on": "2026-09-01",
    }
    assert platform.gateway.post(f"{BASE}/records", json=staff_route, headers=me).status_code == 403
    own = platform.gateway.post(f"{BASE}/children/{mine['id']}/records", json=grants, headers=me)
    assert own.status_code == 201
    history = platform.gateway.get(f"{BASE}/pupils/{theirs['id']}", headers=school.headers("office")).json()
    assert [v["version"] for v in history["versions"]] == [1]
    assert history["versions"][0]["given_by"] == their_carer["id"]


def test_an_idempotent_retry_creates_one_version(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil = school.pupil()
    carer = school.carer(pupil)
    school.sync()
    key = {"Idempotency-Key": f"form-{uuid.uuid4()}"}
    first = record(platform, school, pupil, carer, headers=key)
    again = record(platform, school, pupil, carer, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    view = platform.gateway.get(f"{BASE}/pupils/{pupil['id']}", headers=school.headers("office")).json()
    assert [v["version"] for v in view["versions"]] == [1]


def test_receipts_verify_with_the_published_keys_and_are_no_tokens(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil, _ = consented_pupil(platform, school)
    result = check(platform, school, [pupil])
    jwks = platform.gateway.get(f"{BASE}/.well-known/jwks.json")  # public: no token
    assert jwks.status_code == 200
    receipt = result["receipt"]
    key = jwt.PyJWKSet.from_dict(jwks.json())[jwt.get_unverified_header(receipt)["kid"]]
    claims = jwt.decode(receipt, key.key, algorithms=["ES256"], options={"verify_aud": False})
    assert (claims["decision"], claims["pupil_ids"]) == ("allow", [pupil["id"]])
    as_token = {"Authorization": f"Bearer {receipt}"}
    body = {"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [pupil["id"]]}
    assert platform.gateway.post(f"{BASE}/checks", json=body, headers=as_token).status_code == 401


def test_checks_go_on_while_identity_is_stopped(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil, _ = consented_pupil(platform, school)
    refuser = school.pupil()
    school.sync()
    headers = mle(school)
    body = {"purpose": "website", "media_type": "photo", "framing": "group"}
    # The gateway and the service have verified this token (and cached identity's keys) already.
    assert (
        platform.gateway.post(
            f"{BASE}/checks", json={**body, "pupil_ids": [pupil["id"]]}, headers=headers
        ).status_code
        == 200
    )
    identity = platform.runner.processes["identity"]
    identity.stop()
    try:
        assert platform.gateway.get("/v1/identity/schools", headers=platform.admin_headers).status_code >= 500
        for _ in range(20):
            allowed = platform.gateway.post(
                f"{BASE}/checks", json={**body, "pupil_ids": [pupil["id"]]}, headers=headers
            )
            assert allowed.status_code == 200
            assert allowed.json()["decision"] == "allow"
        denied = platform.gateway.post(
            f"{BASE}/checks", json={**body, "pupil_ids": [pupil["id"], refuser["id"]]}, headers=headers
        ).json()
        assert reasons(denied) == {pupil["id"]: None, refuser["id"]: "no_record"}
        assert platform.gateway.get(f"{BASE}/changes", headers=headers).status_code == 200
    finally:
        platform.runner.start_service("identity")
    assert platform.gateway.get("/v1/identity/schools", headers=platform.admin_headers).status_code == 200


def test_the_demo_data_seeds_through_the_gateway(platform: RunningPlatform) -> None:
    from media_consent import demo as consent_demo

    school = platform.new_school()
    names = [
        ("Amelia", "Clarke", "N"),
        ("Oliver", "Patel", "R"),
        ("Isla", "Nowak", "1"),
        ("Noah", "Adeyemi", "2"),
        ("Ava", "Murphy", "3"),
        ("Leo", "Kowalski", "3"),
        ("Freya", "Bennett", "4"),
        ("Arjun", "Singh", "4"),
        ("Mia", "O'Brien", "5"),
        ("Theo", "Hassan", "5"),
        ("Ruby", "Evans", "6"),
        ("Zain", "Ahmed", "6"),
    ]
    pupils, carers = [], []
    for given, family, year in names:
        pupil = school.pupil(year_group=year, given_name=given, family_name=family)
        carer = school.carer(pupil)
        pupils.append(
            {k: pupil.get(k) for k in ("id", "given_name", "family_name", "year_group", "external_ref")}
        )
        carers.append({"id": carer["id"], "pupil_ids": [pupil["id"]], "parental_responsibility": True})
    school.sync()
    demo = {
        "school_id": school.id,
        "pupils": pupils,
        "carers": carers,
        "staff": {},
        "headers": {
            "office": school.headers("office"),
            "safeguarding_lead": school.headers("safeguarding_lead"),
            "parent": school.headers("parent", person_id=carers[4]["id"]),
            "mle": mle(school),
        },
    }
    consent_demo.seed(platform.gateway, demo)
    head = school.headers("head_teacher")
    missing = platform.gateway.get(f"{BASE}/reports/missing", headers=head).json()
    assert {p["given_name"] for p in missing["items"]} == {"Theo", "Zain"}
    expiring = platform.gateway.get(f"{BASE}/reports/expiring", headers=head).json()
    assert {p["given_name"] for p in expiring["items"]} == {"Noah", "Freya"}
    flagged = platform.gateway.get(
        f"{BASE}/never-publish", headers=school.headers("safeguarding_lead")
    ).json()
    assert [p["given_name"] for p in flagged] == ["Leo"]
    ava = platform.gateway.get(f"{BASE}/pupils/{pupils[4]['id']}", headers=head).json()
    assert ava["versions"][0]["source"] == "parent"
