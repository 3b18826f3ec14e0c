"""Each service's audit log through the gateway: the head teacher reads their school's; where the
log names sensitive records (phone searches, never-publish flags, restricted incidents) the
computing lead, who reads identity's log, is refused; another school's entries never show."""

from __future__ import annotations

import pytest

from tests.platform import RunningPlatform

SENSITIVE = ["/v1/devices/audit", "/v1/media-consent/audit", "/v1/incidents/audit"]


@pytest.mark.parametrize("path", SENSITIVE)
def test_only_the_head_reads_a_sensitive_audit_log(platform: RunningPlatform, path: str) -> None:
    school, other = platform.new_school(), platform.new_school()
    pupil = school.pupil()
    school.sync()
    # Something of each school is audited in devices (a phone handed in).
    for kit, person in ((school, pupil), (other, other.pupil())):
        kit.sync()
        made = platform.gateway.post(
            "/v1/devices/phone-custody",
            json={
                "pupil_id": person["id"],
                "kind": "daily_handin",
                "description": "Blue phone",
                "storage_location": "Reception safe",
            },
            headers=kit.headers("office"),
        )
        assert made.status_code == 201, made.text
    head = platform.gateway.get(path, headers=school.headers("head_teacher"))
    assert head.status_code == 200, head.text
    assert all(entry["school_id"] == school.id for entry in head.json()["items"])
    if path == "/v1/devices/audit":
        assert head.json()["items"], "the hand-in was not audited"
    assert platform.gateway.get(path, headers=school.headers("computing_lead")).status_code == 403
    assert platform.gateway.get(path, headers=school.headers("teacher")).status_code == 403
    assert (
        platform.gateway.get(
            path, params={"school_id": other.id}, headers=school.headers("head_teacher")
        ).status_code
        == 404
    )


def test_the_computing_lead_reads_identitys_audit_log(platform: RunningPlatform) -> None:
    school = platform.new_school()
    response = platform.gateway.get("/v1/identity/audit", headers=school.headers("computing_lead"))
    assert response.status_code == 200, response.text
