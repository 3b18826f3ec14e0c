"""The run command's demo school, seeded on the real platform exactly as `python3 manage.py run` does,
then used the way its people and outside systems would."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pyotp

from tests.platform import RunningPlatform


def test_demo_school_is_usable_by_each_role_and_outside_system(
    platform: RunningPlatform, demo_school: Path
) -> None:
    path = demo_school
    text = path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    gateway = platform.gateway

    # Every staff role signs in with its own credentials (two-factor roles with a TOTP code).
    for role, username in [("teacher", "teacher"), ("head_teacher", "head"), ("office", "office")]:
        match = re.search(rf"^{role}: {username} / (\S+)(?: \(TOTP secret (\w+)\))?$", text, re.MULTILINE)
        assert match, role
        form = {"grant_type": "password", "username": username, "password": match.group(1)}
        if match.group(2):
            # The seeding used this 30-second code; a code is accepted once, so use the next one.
            form["otp"] = pyotp.TOTP(match.group(2)).at(time.time() + 30)
        token = gateway.post("/oauth/token", data=form)
        assert token.status_code == 200, token.text
        me = gateway.get(
            "/v1/identity/people", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.status_code == 200

    # Each outside system gets a token with exactly its scopes.
    expected = {
        "mle": {"consent:check", "consent:webhooks"},
        "office_system": {"phones:read", "phones:write", "people:read", "people:import"},
        "la": {"incidents:export", "incidents:stats"},
    }
    for key, scopes in expected.items():
        match = re.search(rf"^client {key}: client_id=(\S+) client_secret=(\S+)$", text, re.MULTILINE)
        assert match, key
        token = gateway.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(match.group(1), match.group(2))
        )
        assert token.status_code == 200, token.text
        assert set(token.json()["scope"].split()) == scopes

    # The wrong password is refused.
    refused = gateway.post(
        "/oauth/token", data={"grant_type": "password", "username": "teacher", "password": "nope"}
    )
    assert refused.status_code in (400, 401)
    assert isinstance(refused.json()["error"], str)
    assert httpx.codes.is_success(gateway.get("/readyz").status_code)
