"""kill -9 between a consent withdrawal and its webhook's delivery: nothing is lost, and the MLE acts
on it exactly once (it de-duplicates by `webhook-id`). Real processes (identity, media-consent, the
gateway) and a real receiver on 127.0.0.1.

The outbox worker runs inside the media-consent process (servicekit.outbox), so killing the service
kills its worker: first before the worker has taken the message (started with the worker off), then
while the delivery is in flight (the receiver holds the request, the process is killed, and the
receiver then acts on it, as a receiver whose 200 never got back would).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import eventually, own_platform
from tests.platform import RunningPlatform
from tests.platform import SchoolKit as PlatformSchoolKit
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.processes

BASE = "/v1/media-consent"
MLE_SCOPES = ["consent:check", "consent:webhooks"]


def kill9(platform: RunningPlatform, name: str) -> None:
    process = platform.runner.processes[name].process
    assert process is not None and process.poll() is None
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def withdraw(platform: RunningPlatform, school: PlatformSchoolKit) -> str:
    pupil = school.pupil(year_group="2")
    carer = school.carer(pupil)
    school.sync()
    office = school.headers("office")
    recorded = platform.gateway.post(
        f"{BASE}/records",
        json={
            "pupil_id": pupil["id"],
            "given_by": carer["id"],
            "grants": [{"purpose": "website", "media_type": "photo", "level": "individual"}],
            "form_dated_on": "2026-09-01",
        },
        headers=office,
    )
    assert recorded.status_code == 201, recorded.text
    withdrawn = platform.gateway.post(
        f"{BASE}/pupils/{pupil['id']}/withdrawals", json={"given_by": carer["id"]}, headers=office
    )
    assert withdrawn.status_code == 201, withdrawn.text  # committed: the outbox row with it
    return str(pupil["id"])


def pupils_heard(receiver: WebhookReceiver, secret: str) -> list[str]:
    return [r.verify(secret)["data"]["pupil_id"] for r in receiver.processed.values()]


def test_a_withdrawal_survives_kill_9_of_the_worker_and_reaches_the_mle_exactly_once(tmp_path: Path) -> None:
    with (
        WebhookReceiver() as receiver,
        own_platform(
            tmp_path,
            services=("media_consent",),
            MEDIA_CONSENT_WEBHOOK_ALLOW_LOOPBACK="true",
            MEDIA_CONSENT_OUTBOX_WORKER="false",
            # A killed worker's claim runs out after 2 s (60 s by default).
            MEDIA_CONSENT_OUTBOX_LEASE_SECONDS="2",
        ) as platform,
    ):
        school = platform.new_school()
        mle = school.client_headers(MLE_SCOPES, client_id="mle-webhooks")
        registered = platform.gateway.post(
            f"{BASE}/webhooks", json={"url": receiver.url, "events": ["consent.withdrawn"]}, headers=mle
        )
        assert registered.status_code == 201, registered.text
        hook: dict[str, Any] = registered.json()

        # 1. Killed before any worker took the message (this process runs none).
        first = withdraw(platform, school)
        kill9(platform, "media_consent")
        assert receiver.requests == []
        platform.runner.extra_env["MEDIA_CONSENT_OUTBOX_WORKER"] = "true"
        platform.runner.start_service("media_consent")  # the same port and database
        receiver.wait_for(lambda: len(receiver.processed) == 1, timeout=15)
        assert pupils_heard(receiver, hook["secret"]) == [first]

        # 2. Killed while the delivery is in flight: the receiver has the request, no answer yet.
        receiver.holding = True
        second = withdraw(platform, school)
        receiver.wait_for(lambda: len(receiver.requests) == 2, timeout=15)
        in_flight = receiver.requests[-1]
        kill9(platform, "media_consent")
        receiver.release()  # it acts on it; the 200 reaches no one
        receiver.wait_for(lambda: len(receiver.processed) == 2, timeout=5)
        platform.runner.start_service("media_consent")
        # After the lease, the restarted worker sends it again, with the same webhook-id...
        receiver.wait_for(lambda: len(receiver.requests) == 3, timeout=20)
        again = receiver.requests[-1]
        assert again.webhook_id == in_flight.webhook_id and again.body == in_flight.body
        again.verify(hook["secret"])
        # ...and the receiver, de-duplicating by it, has acted on each withdrawal exactly once.
        assert sorted(pupils_heard(receiver, hook["secret"])) == sorted([first, second])
        assert len(receiver.processed) == 2

        def all_delivered() -> bool:
            response = platform.gateway.get(f"{BASE}/webhooks/{hook['id']}/deliveries", headers=mle)
            return response.status_code == 200 and [d["status"] for d in response.json()["items"]] == [
                "delivered",
                "delivered",
            ]

        eventually(all_delivered, what="both deliveries recorded as delivered")
        assert len(receiver.requests) == 3  # nothing sent once more after it was acknowledged
