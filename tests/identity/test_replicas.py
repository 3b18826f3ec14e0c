"""Two identity processes on one database (and on one Redis, when there is one): what one counts
or revokes holds at the other at once.

Finding 6: concurrent guesses cannot overtake the count (each reserves its attempt before the
password is verified), and the count is shared by the replicas. The per-account "not before" is
read from the database by identity, so a token revoked through one replica is refused by the other.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pyotp
import pytest

from identity.roles import scopes_for_roles
from servicekit.clock import SystemClock
from servicekit.jwt import SigningKey, generate_private_key_pem
from servicekit.keystore import KeyStore
from servicekit.testing import ServiceProcess, TokenFactory, free_port, migrated_database
from tests.conftest import SERVICE_DIRS

pytestmark = pytest.mark.processes

PASSWORD = "a long teacher passphrase"
REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(REDIS) == 0


@pytest.fixture(scope="module", params=["database", "redis"])
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess, TokenFactory]]:
    if request.param == "redis" and not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    tmp: Path = tmp_path_factory.mktemp(f"identity-replicas-{request.param}")
    # A database of their own: what they commit is real, and no other test should count it.
    with migrated_database("identity", SERVICE_DIRS["identity"], tmp) as url:
        yield from _two_replicas(request.param, url, tmp)


def _two_replicas(
    kind: str, url: str, tmp: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess, TokenFactory]]:
    pem = generate_private_key_pem()
    KeyStore.install(tmp / "keys", pem, "replica-test-key", SystemClock().now())
    env = {
        "IDENTITY_DATABASE_URL": url,
        "IDENTITY_KEYS_DIR": str(tmp / "keys"),
        "BOOTSTRAP_ADMIN_USERNAME": "replica-admin",
        "BOOTSTRAP_ADMIN_PASSWORD": "a long bootstrap passphrase",
        "BOOTSTRAP_ADMIN_TOTP_SECRET": pyotp.random_base32(),
        "ENVIRONMENT": "test",
        # The not-before index's own refresh would catch up in a minute: the test does not wait.
        "IDENTITY_FOLLOW_INTERVAL_SECONDS": "60",
    }
    if kind == "redis":
        env["IDENTITY_REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/0"
    first = ServiceProcess("identity", "identity.main:create_app", free_port(), env, tmp / "a.log")
    second = ServiceProcess("identity", "identity.main:create_app", free_port(), env, tmp / "b.log")
    first.start()
    try:
        second.start()
        issuer = httpx.get(first.url + "/.well-known/oauth-authorization-server").json()["issuer"]
        tokens = TokenFactory(SigningKey(pem, kid="replica-test-key"), issuer=issuer)
        yield first, second, tokens
    finally:
        second.stop()
        first.stop()


def _teacher(identity: ServiceProcess, tokens: TokenFactory) -> tuple[str, str]:
    """A new teacher's account (id, username), made through the API."""
    admin = tokens.headers(
        scopes=sorted(scopes_for_roles(["platform_admin"])), roles=["platform_admin"], subject="replica-admin"
    )
    urn = str(uuid.uuid4().int % 900000 + 100000)
    school = httpx.post(
        identity.url + "/v1/identity/schools",
        json={"name": f"Replica School {urn}", "urn": urn, "la_code": "202"},
        headers=admin,
    ).json()
    person = httpx.post(
        identity.url + "/v1/identity/people",
        json={"school_id": school["id"], "kind": "staff", "given_name": "Robin", "family_name": "Hood"},
        headers=admin,
    ).json()
    username = f"teacher{uuid.uuid4().hex[:8]}"
    account = httpx.post(
        identity.url + "/v1/identity/users",
        json={"person_id": person["id"], "username": username, "password": PASSWORD, "roles": ["teacher"]},
        headers=admin,
    )
    assert account.status_code == 201, account.text
    return account.json()["id"], username


def _sign_in(url: str, username: str, password: str) -> int:
    form = {"grant_type": "password", "username": username, "password": password}
    return httpx.post(url + "/oauth/token", data=form, timeout=30).status_code


def test_a_burst_of_guesses_across_replicas_gets_ten_verified(
    replicas: tuple[ServiceProcess, ServiceProcess, TokenFactory],
) -> None:
    first, second, tokens = replicas
    _, username = _teacher(first, tokens)
    urls = [first.url, second.url] * 10
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda u: _sign_in(u, username, "one guess of many"), urls))
    # Every guess reserved its attempt before its password was checked: ten were, the rest waited.
    assert statuses.count(400) == 10 and statuses.count(429) == 10, statuses
    # The count is shared: the right password waits at both replicas.
    assert _sign_in(first.url, username, PASSWORD) == 429
    assert _sign_in(second.url, username, PASSWORD) == 429


def test_a_token_revoked_through_one_replica_is_refused_by_the_other(
    replicas: tuple[ServiceProcess, ServiceProcess, TokenFactory],
) -> None:
    first, second, tokens = replicas
    account_id, _ = _teacher(first, tokens)
    # Issued a while ago (whole-second not-befores would keep a token of this very second).
    token = tokens.headers(
        scopes=sorted(scopes_for_roles(["teacher"])),
        roles=["teacher"],
        subject=account_id,
        issued_at=SystemClock().now() - timedelta(seconds=30),
    )
    assert httpx.get(second.url + "/v1/identity/users/me", headers=token).status_code == 200
    changed = httpx.post(
        first.url + "/v1/identity/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=token,
        timeout=30,
    )
    assert changed.status_code == 204, changed.text
    assert httpx.get(first.url + "/v1/identity/users/me", headers=token).status_code == 401
    assert httpx.get(second.url + "/v1/identity/users/me", headers=token).status_code == 401
