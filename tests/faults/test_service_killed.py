"""kill -9 a service while the office system is registering phones and the MLE is checking consent:
the gateway answers 503 for the dead service, the others keep serving, and once it is back every
registration that was acknowledged before the kill is there (and retries of the rest create nothing
twice)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from tests.faults.conftest import ClientLoop, eventually, problem
from tests.platform import RunningPlatform

pytestmark = pytest.mark.processes

PHONES = "/v1/devices/phone-custody"
CHECKS = "/v1/media-consent/checks"
OFFICE_SCOPES = ["phones:read", "phones:write", "people:read"]


def test_a_killed_service_is_503_the_others_serve_and_acknowledged_writes_survive(
    faults_platform: RunningPlatform,
) -> None:
    platform = faults_platform
    school = platform.new_school()
    pupil = school.pupil(year_group="6")
    carer = school.carer(pupil)
    school.sync()
    office = school.client_headers(OFFICE_SCOPES, client_id="mis-faults")
    mle = school.client_headers(["consent:check"], client_id="mle-faults")
    consent = platform.gateway.post(
        "/v1/media-consent/records",
        json={
            "pupil_id": pupil["id"],
            "given_by": carer["id"],
            "grants": [{"purpose": "mle", "media_type": "photo", "level": "individual"}],
            "form_dated_on": "2026-09-01",
        },
        headers=school.headers("office"),
    )
    assert consent.status_code == 201, consent.text

    # The office system's writes: each with its own Idempotency-Key, remembered with the answer.
    lock = threading.Lock()
    sent: dict[str, dict[str, Any]] = {}
    acknowledged: dict[str, str] = {}  # key -> record id, for every 201

    def register(i: int, client: httpx.Client) -> int:
        key = f"faults-{i}-{uuid.uuid4().hex[:8]}"
        body = {
            "pupil_id": pupil["id"],
            "kind": "daily_handin",
            "description": f"Phone {i}",
            "storage_location": "Reception",
        }
        with lock:
            sent[key] = body
        response = client.post(PHONES, json=body, headers={**office, "Idempotency-Key": key})
        if response.status_code == 201:
            with lock:
                acknowledged[key] = response.json()["id"]
        return response.status_code

    def check(_i: int, client: httpx.Client) -> int:
        body = {"purpose": "mle", "media_type": "photo", "framing": "group", "pupil_ids": [pupil["id"]]}
        response = client.post(CHECKS, json=body, headers=mle)
        assert response.status_code != 200 or response.json()["decision"] == "allow"
        return response.status_code

    writes = ClientLoop(register, platform.runner.url("gateway"), limit=150).start()
    checks = ClientLoop(check, platform.runner.url("gateway"), limit=100_000).start()
    try:
        eventually(lambda: len(acknowledged) >= 15, what="15 phone registrations acknowledged")
        with lock:
            before_kill = dict(acknowledged)
        devices = platform.runner.processes["devices"]
        assert devices.process is not None
        devices.stop(kill=True)  # SIGKILL: no shutdown, no flush, connections cut

        down = platform.gateway.get(PHONES, headers=office)
        assert down.status_code == 503
        assert problem(down)["status"] == 503
        ready = platform.gateway.get("/readyz")
        assert ready.status_code == 200  # the gateway still serves the other services
        assert ready.json()["not_ready"] == ["devices"]
        # The writer keeps trying while devices is down: its calls are refused, not acknowledged.
        refused_at_kill = writes.count(503, 502)
        eventually(lambda: writes.count(503, 502) > refused_at_kill, what="a write refused while down")
        checks_at_kill = checks.count(200)
        eventually(lambda: checks.count(200) >= checks_at_kill + 20, what="consent checks while down")

        platform.runner.start_service("devices")  # the same port and database
        eventually(
            lambda: platform.gateway.get(PHONES, headers=office).status_code == 200,
            what="the gateway routing to the restarted service",
        )
    finally:
        writes.stop()
        checks.stop()

    # The MLE never noticed: every check answered 200 (none failed or was refused).
    assert checks.count(200) == checks.calls > 0, (checks.statuses, checks.failures)
    # The office saw its write stored, or refused by the gateway while devices was down (503; 502 for
    # the one cut mid-request): never a 500, never no answer.
    assert set(writes.statuses) <= {201, 502, 503}, (writes.statuses, writes.failures)
    # Every write acknowledged before the kill (and after) is stored, as acknowledged.
    assert set(before_kill) <= set(acknowledged)
    for key, record_id in acknowledged.items():
        stored = platform.gateway.get(f"{PHONES}/{record_id}", headers=office)
        assert stored.status_code == 200, stored.text
        assert stored.json()["description"] == sent[key]["description"]
    # The office system retries what was not acknowledged, with the same keys: nothing twice.
    for key, body in sent.items():
        if key in acknowledged:
            continue
        retry = platform.gateway.post(PHONES, json=body, headers={**office, "Idempotency-Key": key})
        assert retry.status_code == 201, retry.text
        acknowledged[key] = retry.json()["id"]
    listed = platform.gateway.get(PHONES, params={"pupil_id": pupil["id"], "limit": 500}, headers=office)
    assert listed.status_code == 200
    stored_ids = [r["id"] for r in listed.json()["items"]]
    assert sorted(stored_ids) == sorted(acknowledged.values())
    assert len(set(stored_ids)) == len(sent)
