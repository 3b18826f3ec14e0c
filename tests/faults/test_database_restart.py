"""PostgreSQL restarts under load: while it is down the services answer 503 problem+json (never 500)
and say so on /readyz; once it is back they serve again without being restarted.

The server is a private one started for this test (initdb into a temp folder, its own port), never
the machine's shared PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import ClientLoop, PrivatePostgres, eventually, own_platform, problem

pytestmark = pytest.mark.processes

PHONES = "/v1/devices/phone-custody"
CHECKS = "/v1/media-consent/checks"
OFFICE_SCOPES = ["phones:read", "phones:write", "people:read"]


def test_services_answer_503_while_postgresql_is_down_and_recover_by_themselves(
    tmp_path: Path, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", private_postgres.url)
    with own_platform(tmp_path) as platform:
        school = platform.new_school()
        pupil = school.pupil(year_group="4")
        school.sync()
        office = school.client_headers(OFFICE_SCOPES, client_id="mis-pg")
        mle = school.client_headers(["consent:check"], client_id="mle-pg")

        def check(_i: int, client: httpx.Client) -> int:
            body = {"purpose": "mle", "media_type": "photo", "framing": "group", "pupil_ids": [pupil["id"]]}
            response = client.post(CHECKS, json=body, headers=mle)
            if response.status_code == 503:
                assert problem(response)["status"] == 503
            return response.status_code

        def register(i: int, client: httpx.Client) -> int:
            body = {
                "pupil_id": pupil["id"],
                "kind": "daily_handin",
                "description": f"Phone {i}",
                "storage_location": "Reception",
            }
            key = f"pg-{i}-{uuid.uuid4().hex[:8]}"
            response = client.post(PHONES, json=body, headers={**office, "Idempotency-Key": key})
            if response.status_code == 503:
                assert problem(response)["status"] == 503
            return response.status_code

        gateway = platform.runner.url("gateway")
        checks = ClientLoop(check, gateway, limit=100_000).start()
        writes = ClientLoop(register, gateway, limit=100_000).start()
        try:
            eventually(
                lambda: checks.count(200) >= 5 and writes.count(201) >= 5, what="load before the fault"
            )
            private_postgres.stop()

            eventually(lambda: checks.count(503) >= 5 and writes.count(503) >= 5, what="503s while down")
            for name in ("devices", "media_consent"):
                ready = httpx.get(platform.runner.url(name) + "/readyz", timeout=10)
                assert ready.status_code == 503
                assert problem(ready)["status"] == 503
            direct = platform.gateway.get(PHONES, headers=office)
            assert direct.status_code == 503
            assert problem(direct)["type"].endswith("database-unavailable")
            assert direct.headers["retry-after"]

            private_postgres.start()
            ok_checks, ok_writes = checks.count(200), writes.count(201)
            eventually(
                lambda: checks.count(200) >= ok_checks + 5 and writes.count(201) >= ok_writes + 5,
                what="the services serving again without a restart",
            )
            for name in ("devices", "media_consent"):
                assert httpx.get(platform.runner.url(name) + "/readyz", timeout=10).status_code == 200
        finally:
            checks.stop()
            writes.stop()

        # Recovered for good: no connection poisoned by the restart is left in a pool.
        with httpx.Client(base_url=gateway, timeout=15) as client:
            after = [check(0, client) for _ in range(30)] + [
                register(i, client) for i in range(10_000, 10_010)
            ]
        assert after == [200] * 30 + [201] * 10, after

        # Never a 500, never a cut connection: only success, or 503 while the database was away.
        assert set(checks.statuses) <= {200, 503}, (checks.statuses, checks.failures)
        assert set(writes.statuses) <= {201, 503}, (writes.statuses, writes.failures)
        # The services were never restarted: the same processes served before and after.
        for name in ("devices", "media_consent"):
            process = platform.runner.processes[name].process
            assert process is not None and process.poll() is None
