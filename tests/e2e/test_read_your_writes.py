"""Read-your-writes across services (CONTRACT.md): what the office has just written in identity (a
pupil, a carer link, a leaver) is used at once by its next request to media-consent, devices and
incidents, through the gateway. The platform here follows identity's feed only once an hour, so
only the catch-up on a miss (servicekit.replica) can explain a success: no test calls sync().
With identity down, a write naming someone the replica lacks is 503 with Retry-After, never "not
known", and the MLE's consent check still fails closed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from servicekit.testing import drop_test_database
from tests.faults.conftest import FAST_BREAKER, eventually
from tests.platform import RunningPlatform, SchoolKit, start_platform

pytestmark = pytest.mark.processes

PHONES = "/v1/devices/phone-custody"
CHECKS = "/v1/media-consent/checks"
OFFICE_SCOPES = ["phones:read", "phones:write"]
GRANTS = [{"purpose": "mle", "media_type": "photo", "level": "individual"}]


@pytest.fixture(scope="module", params=["pull", "feed-head"])
def slow_follower(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPlatform]:
    """The whole platform, its services following identity's feed every hour (after one pull at start).

    Twice: catching up by a pull every time (the embedded default), and with the feed head in
    Redis (servicekit.replica.FeedHead: a catch-up pulls only when identity has handed out a
    number the replica lacks), as an LA deployment runs it."""
    var_dir: Path = tmp_path_factory.mktemp("read-your-writes")
    # The check's wait is raised from 0.2 s so a busy test machine cannot turn a leaver's deny
    # into the replica's stale allow; the wait's bound itself is a deployment's choice.
    env = {**FAST_BREAKER, "MEDIA_CONSENT_CHECK_CATCH_UP_SECONDS": "5"}
    head_key = f"test-ryw-{uuid.uuid4().hex[:10]}:people-feed:head"
    if request.param == "feed-head":
        env["PLATFORM_PEOPLE_FEED_HEAD_URL"] = "redis://127.0.0.1:6379/0"
        env["PLATFORM_PEOPLE_FEED_HEAD_KEY"] = head_key
    runner, tokens = start_platform(var_dir, follow_interval=3600.0, extra_env=env)
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        yield RunningPlatform(runner, tokens, gateway)
    finally:
        gateway.close()
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)
        if request.param == "feed-head":
            client = redis.Redis(host="127.0.0.1", port=6379)
            client.delete(head_key)
            client.close()


def record_consent(platform: RunningPlatform, school: SchoolKit, pupil: str, carer: str) -> httpx.Response:
    return platform.gateway.post(
        "/v1/media-consent/records",
        json={"pupil_id": pupil, "given_by": carer, "grants": GRANTS, "form_dated_on": "2026-09-01"},
        headers=school.headers("office"),
    )


def register_phone(platform: RunningPlatform, headers: dict[str, str], pupil: str) -> httpx.Response:
    return platform.gateway.post(
        PHONES,
        json={
            "pupil_id": pupil,
            "kind": "daily_handin",
            "description": "Black Android phone",
            "storage_location": "Office tray",
        },
        headers=headers,
    )


def report_incident(platform: RunningPlatform, school: SchoolKit, person: str) -> httpx.Response:
    return platform.gateway.post(
        "/v1/incidents",
        json={
            "category": "misuse_of_ict",
            "severity": "medium",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": "on_site",
            "summary": "Searched for unsuitable material in a lesson",
            "people": [{"person_id": person, "role": "subject"}],
        },
        headers=school.headers("teacher"),
    )


def check(platform: RunningPlatform, mle: dict[str, str], pupil: str) -> dict[str, Any]:
    response = platform.gateway.post(
        CHECKS,
        json={"purpose": "mle", "media_type": "photo", "framing": "individual", "pupil_ids": [pupil]},
        headers=mle,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_new_pupil_and_carer_are_used_at_once(slow_follower: RunningPlatform) -> None:
    platform = slow_follower
    school = platform.new_school()
    pupil = school.pupil(year_group="4")["id"]
    carer = school.carer({"id": pupil}, parental_responsibility=True)["id"]
    office = school.client_headers(OFFICE_SCOPES, client_id="mis-ryw")
    mle = school.client_headers(["consent:check"], client_id="mle-ryw")

    recorded = record_consent(platform, school, pupil, carer)
    assert recorded.status_code == 201, recorded.text
    registered = register_phone(platform, office, pupil)
    assert registered.status_code == 201, registered.text
    reported = report_incident(platform, school, pupil)
    assert reported.status_code == 201, reported.text
    assert check(platform, mle, pupil)["decision"] == "allow"

    # The phone goes back to a carer linked a moment ago.
    aunt = school.carer({"id": pupil}, parental_responsibility=False, relationship="aunt")["id"]
    returned = platform.gateway.post(
        f"{PHONES}/{registered.json()['id']}/return", json={"to_person_id": aunt}, headers=office
    )
    assert returned.status_code == 200, returned.text


def test_a_leaver_is_seen_at_once(slow_follower: RunningPlatform) -> None:
    platform = slow_follower
    school = platform.new_school()
    pupil = school.pupil(year_group="6")["id"]
    carer = school.carer({"id": pupil}, parental_responsibility=True)["id"]
    office = school.client_headers(OFFICE_SCOPES, client_id="mis-ryw")
    mle = school.client_headers(["consent:check"], client_id="mle-ryw")
    assert record_consent(platform, school, pupil, carer).status_code == 201
    assert check(platform, mle, pupil)["decision"] == "allow"

    left = platform.gateway.post(
        f"/v1/identity/people/{pupil}/leave", json={}, headers=platform.admin_headers
    )
    assert left.status_code == 200, left.text

    # The replica still has the pupil on roll: only a catch-up before allowing denies.
    after = check(platform, mle, pupil)
    assert after["decision"] == "deny"
    assert after["results"][0]["reason"] == "not_on_roll"
    phone = register_phone(platform, office, pupil)
    assert phone.status_code == 422, phone.text
    assert phone.json()["type"].endswith("not-on-roll")
    again = record_consent(platform, school, pupil, carer)
    assert again.status_code == 409, again.text

    # A parent's own form for a child who has just left, as the first request after the leave.
    sibling = school.pupil(year_group="3")["id"]
    linked = platform.gateway.post(
        f"/v1/identity/people/{sibling}/carers",
        json={"carer_id": carer, "relationship": "mother", "parental_responsibility": True},
        headers=platform.admin_headers,
    )
    assert linked.status_code == 201, linked.text
    parent = school.headers("parent", person_id=carer)
    own = f"/v1/media-consent/children/{sibling}/records"
    assert platform.gateway.post(own, json={"grants": GRANTS}, headers=parent).status_code == 201
    left = platform.gateway.post(
        f"/v1/identity/people/{sibling}/leave", json={}, headers=platform.admin_headers
    )
    assert left.status_code == 200, left.text
    refused = platform.gateway.post(own, json={"grants": GRANTS}, headers=parent)
    assert refused.status_code == 409, refused.text


def test_with_identity_down_unknown_is_503_and_the_check_denies(slow_follower: RunningPlatform) -> None:
    platform = slow_follower
    school = platform.new_school()
    known = school.pupil(year_group="2")["id"]
    office = school.client_headers(OFFICE_SCOPES, client_id="mis-ryw")
    mle = school.client_headers(["consent:check"], client_id="mle-ryw")
    # Every service meets the key, and learns `known`, before identity goes away.
    assert register_phone(platform, office, known).status_code == 201
    assert report_incident(platform, school, known).status_code == 201
    assert check(platform, mle, known)["decision"] == "deny"  # no consent yet
    newcomer = school.pupil(year_group="2")["id"]  # created in identity, not yet in any replica
    carer = school.carer({"id": newcomer}, parental_responsibility=True)["id"]
    teacher_headers = school.headers("teacher")
    office_staff = school.headers("office")

    platform.runner.processes["identity"].stop(kill=True)
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(platform.runner.url("identity") + "/livez", timeout=2)
        for unknown in (newcomer, str(uuid.uuid4())):
            writes = [
                platform.gateway.post(
                    "/v1/media-consent/records",
                    json={
                        "pupil_id": unknown,
                        "given_by": carer,
                        "grants": GRANTS,
                        "form_dated_on": "2026-09-01",
                    },
                    headers=office_staff,
                ),
                register_phone(platform, office, unknown),
                platform.gateway.post(
                    "/v1/incidents",
                    json={
                        "category": "misuse_of_ict",
                        "severity": "low",
                        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                        "location": "on_site",
                        "summary": "Shared a password",
                        "people": [{"person_id": unknown, "role": "subject"}],
                    },
                    headers=teacher_headers,
                ),
            ]
            for response in writes:
                assert response.status_code == 503, (response.request.url, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["type"].endswith("replica-unavailable")
            denied = check(platform, mle, unknown)
            assert denied["decision"] == "deny"
            assert denied["results"][0]["reason"] == "unknown_pupil"
        # Whom the replica knows is still served.
        assert register_phone(platform, office, known).status_code == 201
    finally:
        platform.runner.start_service("identity")
    eventually(
        lambda: (
            platform.gateway.get("/v1/identity/people", headers=platform.admin_headers).status_code == 200
        ),
        what="identity serving again through the gateway",
    )
