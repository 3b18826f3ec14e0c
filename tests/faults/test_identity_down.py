"""Identity down: the MLE's consent checks and the office's phone registrations and returns go on,
from each service's people replica and the signing keys it already fetched."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.faults.conftest import eventually
from tests.platform import RunningPlatform, SchoolKit

pytestmark = pytest.mark.processes

PHONES = "/v1/devices/phone-custody"
OFFICE_SCOPES = ["phones:read", "phones:write", "people:read"]


def test_consent_checks_and_phone_returns_work_while_identity_is_down(
    faults_platform: RunningPlatform,
) -> None:
    platform = faults_platform
    school = platform.new_school()
    pupil = school.pupil(year_group="5")
    carer = school.carer(pupil, parental_responsibility=True)
    school.sync()
    office = school.client_headers(OFFICE_SCOPES, client_id="mis-idp")
    mle = school.client_headers(["consent:check"], client_id="mle-idp")
    recorded = platform.gateway.post(
        "/v1/media-consent/records",
        json={
            "pupil_id": pupil["id"],
            "given_by": carer["id"],
            "grants": [{"purpose": "mle", "media_type": "photo", "level": "individual"}],
            "form_dated_on": "2026-09-01",
        },
        headers=school.headers("office"),
    )
    assert recorded.status_code == 201, recorded.text
    # The services have met a token of identity's key before identity goes away.
    assert platform.gateway.get(PHONES, headers=office).status_code == 200

    identity = platform.runner.processes["identity"]
    identity.stop(kill=True)
    try:
        serve_without_identity(platform, school, pupil, carer, office, mle)
    finally:
        platform.runner.start_service("identity")  # the next test finds the platform whole
    eventually(
        lambda: (
            platform.gateway.get("/v1/identity/people", headers=platform.admin_headers).status_code == 200
        ),
        what="identity serving again through the gateway",
    )


def serve_without_identity(
    platform: RunningPlatform,
    school: SchoolKit,
    pupil: dict[str, Any],
    carer: dict[str, Any],
    office: dict[str, str],
    mle: dict[str, str],
) -> None:
    eventually(
        lambda: (
            platform.gateway.get("/v1/identity/people", headers=platform.admin_headers).status_code == 503
        ),
        what="identity answering 503 through the gateway",
    )
    with pytest.raises(httpx.ConnectError):
        httpx.get(platform.runner.url("identity") + "/livez", timeout=2)

    # The MLE: a new token (new jti, same key) is still verified, the pupil still known.
    check = platform.gateway.post(
        "/v1/media-consent/checks",
        json={"purpose": "mle", "media_type": "photo", "framing": "individual", "pupil_ids": [pupil["id"]]},
        headers=school.client_headers(["consent:check"], client_id="mle-idp"),
    )
    assert check.status_code == 200, check.text
    assert check.json()["decision"] == "allow"
    refused = platform.gateway.post(
        "/v1/media-consent/checks",
        json={
            "purpose": "website",
            "media_type": "photo",
            "framing": "individual",
            "pupil_ids": [pupil["id"]],
        },
        headers=mle,
    )
    assert refused.status_code == 200 and refused.json()["decision"] == "deny"

    # The office: a confiscation, then its release to the carer with parental responsibility.
    taken = platform.gateway.post(
        PHONES,
        json={
            "pupil_id": pupil["id"],
            "kind": "confiscation",
            "description": "Blue iPhone",
            "storage_location": "Office safe",
            "reason": "Used in class after a warning",
        },
        headers=office,
    )
    assert taken.status_code == 201, taken.text
    to_pupil = platform.gateway.post(
        f"{PHONES}/{taken.json()['id']}/return", json={"to_person_id": pupil["id"]}, headers=office
    )
    assert to_pupil.status_code == 422  # the replica still knows the rules' people
    released = platform.gateway.post(
        f"{PHONES}/{taken.json()['id']}/return", json={"to_person_id": carer["id"]}, headers=office
    )
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
