"""Finding 4, through the gateway with its DEFAULT limits (not tests/platform.py's lifted ones):
a school's staff behind one address all sign in, while guesses at one account from many
addresses lock that account (and only for a while, and only that account).

Client addresses differ on loopback by binding the client socket (all of 127.0.0.0/8 is loopback
on Linux); the gateway passes X-Forwarded-For to identity, which trusts the gateway's hop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from identity.roles import scopes_for_roles
from servicekit.platform import PlatformRunner
from servicekit.testing import TokenFactory, drop_test_database
from tests.platform import start_platform

pytestmark = pytest.mark.processes

PASSWORD = "a long staff passphrase"


@pytest.fixture(scope="module")
def default_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlatformRunner, TokenFactory]]:
    runner, tokens = start_platform(
        Path(tmp_path_factory.mktemp("default-limits")), limits={}, services="identity"
    )
    try:
        yield runner, tokens
    finally:
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


def _from(address: str, runner: PlatformRunner) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=runner.url("gateway"), transport=transport, timeout=30)


def _staff(runner: PlatformRunner, tokens: TokenFactory, count: int) -> list[str]:
    """`count` teachers of a new school, made through the gateway; their usernames."""
    admin = tokens.headers(scopes=sorted(scopes_for_roles(["platform_admin"])), roles=["platform_admin"])
    usernames = []
    with httpx.Client(base_url=runner.url("gateway"), headers=admin, timeout=30) as c:
        urn = str(uuid.uuid4().int % 900000 + 100000)
        school = c.post(
            "/v1/identity/schools", json={"name": f"NAT School {urn}", "urn": urn, "la_code": "202"}
        )
        assert school.status_code == 201, school.text
        for i in range(count):
            person = c.post(
                "/v1/identity/people",
                json={
                    "school_id": school.json()["id"],
                    "kind": "staff",
                    "given_name": "Sam",
                    "family_name": f"Staff{i}",
                },
            )
            assert person.status_code == 201, person.text
            username = f"staff{uuid.uuid4().hex[:8]}"
            account = c.post(
                "/v1/identity/users",
                json={
                    "person_id": person.json()["id"],
                    "username": username,
                    "password": PASSWORD,
                    "roles": ["teacher"],
                },
            )
            assert account.status_code == 201, account.text
            usernames.append(username)
    return usernames


def _sign_in(c: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return c.post("/oauth/token", data={"grant_type": "password", "username": username, "password": password})


def test_sixty_staff_behind_one_address_all_sign_in(default_limits) -> None:
    runner, tokens = default_limits
    staff = _staff(runner, tokens, 60)
    with _from("127.0.0.1", runner) as school_nat:
        # A few mistype first, as people do at 08:45.
        assert all(_sign_in(school_nat, u, "a mistyped password").status_code == 400 for u in staff[:10])
        statuses = [_sign_in(school_nat, u).status_code for u in staff]
    assert statuses == [200] * 60


def test_eleven_guesses_from_eleven_addresses_lock_that_account_only(default_limits) -> None:
    runner, tokens = default_limits
    target, neighbour = _staff(runner, tokens, 2)
    statuses = []
    for i in range(11):
        with _from(f"127.0.0.{i + 2}", runner) as attacker:
            statuses.append(_sign_in(attacker, target, f"guess number {i}").status_code)
    assert statuses == [400] * 10 + [429]
    with _from("127.0.0.1", runner) as owner:
        waits = _sign_in(owner, target)  # per account: the real owner waits too, for a while
        assert waits.status_code == 429 and 1 <= int(waits.headers["retry-after"]) <= 300
        assert _sign_in(owner, neighbour).status_code == 200
