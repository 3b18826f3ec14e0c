"""Two replicas of every service and two gateways, on PostgreSQL and one Redis, each behind a
round-robin balancer (tests/balancer.py): the platform behaves as one (issue 16).

- guesses spread over identity's replicas lock at the same count (the throttle is in Redis);
- a client's rate limit counts across both gateways (Redis);
- a revocation made at one identity replica is refused by every replica of every service within
  one follow interval;
- an Idempotency-Key retried at the other replica creates one record, also when both run at once;
- the feed followers of a service's two replicas leave its replica tables as identity has them;
- start-up never migrates: a replica refuses a database behind its migrations, and starts once
  the migration step has run;
- with identity's replicas killed, consent checks go on through both gateways, which stay ready.

Skipped without PostgreSQL (TEST_DATABASE_URL, or the server on 127.0.0.1:5432) or Redis on
127.0.0.1:6379. Keys in Redis carry a prefix of this run's own and are deleted afterwards.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from identity.roles import scopes_for_roles
from servicekit.clock import SystemClock
from servicekit.migrations import upgrade
from servicekit.testing import ServiceProcess, drop_test_database, free_port, fresh_database_url
from tests.platform import ReplicatedPlatform, RunningPlatform, SchoolKit, start_replicated_platform

pytestmark = pytest.mark.processes

FOLLOW_INTERVAL = 1.0
QUOTA_PATH = "/v1/devices/assets"
QUOTA = 5
PASSWORD = "a long teacher passphrase"
CHECKS = "/v1/media-consent/checks"
SERVICES = ("incidents", "devices", "media_consent")


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _postgres() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return url
    return "postgresql://postgres@127.0.0.1:5432/replicas" if _reachable("127.0.0.1", 5432) else None


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedPlatform]:
    database = _postgres()
    if database is None:
        pytest.skip("no PostgreSQL (TEST_DATABASE_URL, or 127.0.0.1:5432)")
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("no Redis on 127.0.0.1:6379")
    run = f"test-replicas-{uuid.uuid4().hex[:10]}"
    env = {
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEWAY_REDIS_KEY_PREFIX": f"{run}:rl:",
        "IDENTITY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "IDENTITY_REDIS_KEY_PREFIX": f"{run}:throttle:",
        # The people feed's head: a catch-up pulls only when identity has handed out more.
        "PLATFORM_PEOPLE_FEED_HEAD_URL": "redis://127.0.0.1:6379/0",
        "PLATFORM_PEOPLE_FEED_HEAD_KEY": f"{run}:people-feed:head",
        # A window far longer than the test: its counts cannot start again half-way.
        "GATEWAY_RATE_LIMIT_WINDOW_SECONDS": "3600",
        "GATEWAY_CLIENT_QUOTAS": f'[{{"prefix": "{QUOTA_PATH}", "limit": {QUOTA}}}]',
        "GATEWAY_BREAKER_COOLDOWN_SECONDS": "0.5",
        # Identity's replicas read each other's "not before" from their database this often.
        "IDENTITY_FOLLOW_INTERVAL_SECONDS": str(FOLLOW_INTERVAL),
    }
    platform = start_replicated_platform(
        tmp_path_factory.mktemp("replicas"),
        database=database,
        follow_interval=FOLLOW_INTERVAL,
        start_timeout=90.0,
        extra_env=env,
    )
    try:
        yield platform
    finally:
        platform.stop()
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(match=f"{run}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def fresh(url: str) -> httpx.Client:
    """A client that opens a new connection per request, so the balancer spreads its requests."""
    return httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def running(platform: ReplicatedPlatform) -> RunningPlatform:
    return RunningPlatform(platform.runner, platform.tokens, fresh(platform.front))


def _eventually(check: Any, *, within: float, what: str) -> float:
    """Poll `check` (bounded) until it holds; how long it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} did not happen within {within}s")
        time.sleep(0.05)
    return time.monotonic() - start


def _teacher(school: SchoolKit) -> tuple[str, str]:
    """A teacher's account (id, username), made through the front balancer."""
    person = school.person("staff", given_name="Robin")
    username = f"teacher{uuid.uuid4().hex[:8]}"
    account = school.platform.gateway.post(
        "/v1/identity/users",
        json={"person_id": person["id"], "username": username, "password": PASSWORD, "roles": ["teacher"]},
        headers=school.platform.admin_headers,
    )
    assert account.status_code == 201, account.text
    return account.json()["id"], username


def _sign_in(url: str, username: str, password: str) -> int:
    form = {"grant_type": "password", "username": username, "password": password}
    return httpx.post(url + "/oauth/token", data=form, timeout=30).status_code


def test_every_process_has_two_replicas_behind_its_balancer(replicated: ReplicatedPlatform) -> None:
    runner = replicated.runner
    for name in ("identity", *SERVICES, "gateway"):
        processes = runner.replicas(name)
        assert len(processes) == 2, name
        for process in processes:
            assert httpx.get(process.url + "/livez", timeout=10).status_code == 200
    with fresh(replicated.front) as client:
        for _ in range(4):
            assert client.get("/readyz").status_code == 200
    # Round robin: each gateway took connections.
    assert all(replicated.balancers["gateway"].connections[p.port] > 0 for p in runner.replicas("gateway"))


def test_guesses_spread_over_identity_replicas_lock_at_the_same_count(
    replicated: ReplicatedPlatform,
) -> None:
    platform = running(replicated)
    _, username = _teacher(platform.new_school())
    first, second = (p.url for p in replicated.runner.replicas("identity"))
    # Ten wrong guesses, alternately at each replica (and so at each one's own process memory).
    statuses = [_sign_in(url, username, "one guess of many") for url in [first, second] * 5]
    assert statuses == [400] * 10, statuses
    # The count is one: the eleventh guess, and then the right password, wait at both replicas
    # and through the gateways.
    assert _sign_in(first, username, "one more guess") == 429
    assert _sign_in(second, username, PASSWORD) == 429
    assert _sign_in(replicated.front, username, PASSWORD) == 429


def test_a_clients_rate_limit_counts_across_both_gateways(replicated: ReplicatedPlatform) -> None:
    platform = running(replicated)
    school = platform.new_school()
    headers = school.client_headers(["phones:read"], client_id=f"quota-{uuid.uuid4().hex[:6]}")
    gateways = [p.url for p in replicated.runner.replicas("gateway")]
    statuses = [
        httpx.get(gateways[i % 2] + QUOTA_PATH, headers=headers, timeout=30).status_code
        for i in range(QUOTA + 3)
    ]
    assert 429 not in statuses[:QUOTA], statuses
    assert statuses[QUOTA:] == [429] * 3, statuses
    # Through the front balancer too: the count is the client's, wherever it lands.
    assert fresh(replicated.front).get(QUOTA_PATH, headers=headers).status_code == 429


def test_a_revocation_at_one_replica_is_refused_by_every_replica_within_one_interval(
    replicated: ReplicatedPlatform,
) -> None:
    platform = running(replicated)
    school = platform.new_school()
    account_id, _ = _teacher(school)
    runner = replicated.runner
    school.sync()
    token = platform.tokens.headers(
        scopes=sorted(scopes_for_roles(["teacher"])),
        roles=["teacher"],
        subject=account_id,
        school_id=school.id,
        la_code=school.la_code,
        issued_at=SystemClock().now() - timedelta(seconds=30),
    )
    # A route of each that needs a token (a refused token is 401 there; before, 200 or 403).
    probes = {
        "identity": "/v1/identity/users/me",
        "incidents": "/v1/incidents",
        "devices": "/v1/devices/phone-custody",
        "media_consent": "/v1/media-consent/reports/missing",
    }
    replicas = [(name, p.url + probes[name]) for name in probes for p in runner.replicas(name)]
    assert len(replicas) == 8
    for name, url in replicas:
        assert httpx.get(url, headers=token, timeout=30).status_code != 401, name

    identity = runner.replicas("identity")[0]
    changed = httpx.post(
        identity.url + "/v1/identity/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=token,
        timeout=30,
    )
    assert changed.status_code == 204, changed.text
    revoked_at = time.monotonic()
    # Every replica refuses it within one follow interval (plus the time a pull and its page
    # take on this busy machine: the bound is the interval and one more second).
    for name, url in replicas:
        _eventually(
            lambda url=url: httpx.get(url, headers=token, timeout=30).status_code == 401,
            within=FOLLOW_INTERVAL + 1.0 - (time.monotonic() - revoked_at),
            what=f"{name} at {url} refusing the revoked token",
        )
    assert time.monotonic() - revoked_at <= FOLLOW_INTERVAL + 1.0


def _count(url: str, sql: str, **params: Any) -> int:
    engine = create_engine(make_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql), params).scalar_one())
    finally:
        engine.dispose()


def test_an_idempotency_key_retried_at_the_other_replica_creates_one_record(
    replicated: ReplicatedPlatform,
) -> None:
    platform = running(replicated)
    school = platform.new_school()
    pupil = school.pupil(year_group="6")
    school.sync()
    office = school.client_headers(["phones:read", "phones:write", "people:read"], client_id="mis-replicas")
    first, second = (p.url for p in replicated.runner.replicas("devices"))
    database = replicated.runner.database_urls["devices"]

    def register(url: str, key: str, description: str) -> httpx.Response:
        body = {
            "pupil_id": pupil["id"],
            "kind": "daily_handin",
            "description": description,
            "storage_location": "Reception",
        }
        return httpx.post(
            url + "/v1/devices/phone-custody",
            json=body,
            headers={**office, "Idempotency-Key": key},
            timeout=30,
        )

    # A retry at the other replica replays the first answer.
    key = f"replica-{uuid.uuid4().hex}"
    created = register(first, key, "Phone A")
    assert created.status_code == 201, created.text
    retried = register(second, key, "Phone A")
    assert retried.status_code == 201 and retried.headers.get("idempotent-replayed") == "true"
    assert retried.json()["id"] == created.json()["id"]

    # Both replicas at once with one key: one record; the other answer is the replay, or 409
    # (in use: retry), and its retry replays.
    key = f"replica-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda url: register(url, key, "Phone B"), [first, second]))
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([201, 201], [201, 409]), [a.text for a in answers]
    again = register(second, key, "Phone B")
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    ids = {a.json()["id"] for a in [*answers, again] if a.status_code == 201}
    assert len(ids) == 1
    assert _count(database, "SELECT count(*) FROM phone_custody WHERE description = 'Phone B'") == 1
    assert _count(database, "SELECT count(*) FROM idempotency_record WHERE key = :key", key=key) == 1


def test_both_replicas_feed_followers_leave_the_replica_as_identity_has_it(
    replicated: ReplicatedPlatform,
) -> None:
    platform = running(replicated)
    school = platform.new_school()
    pupil = school.pupil(year_group="4")
    # Changes in quick succession: both replicas of every service pull them, at their own times.
    for name in ("Ada", "Bea", "Cy", "Dot", "Eve"):
        renamed = platform.gateway.patch(
            f"/v1/identity/people/{pupil['id']}",
            json={"given_name": name},
            headers={**platform.admin_headers, "If-Match": _etag(platform, pupil["id"])},
        )
        assert renamed.status_code == 200, renamed.text
    identity_db = replicated.runner.database_urls["identity"]
    latest = _count(identity_db, "SELECT max(value) FROM feed_counter WHERE name = 'identity-people'")
    for service in SERVICES:
        database = replicated.runner.database_urls[service]

        def settled(database: str = database) -> bool:
            named = _count(
                database,
                "SELECT count(*) FROM replica_person WHERE id = :id AND given_name = 'Eve'",
                id=uuid.UUID(pupil["id"]),
            )
            cursor = _count(
                database,
                "SELECT coalesce(max(cast(cursor AS bigint)), 0) FROM follower_state "
                "WHERE name = 'identity-people'",
            )
            return named == 1 and cursor >= latest

        _eventually(settled, within=FOLLOW_INTERVAL * 3 + 5, what=f"{service}'s replica settling")
    # Nothing the followers did failed or conflicted.
    for service in SERVICES:
        for process in replicated.runner.replicas(service):
            log = process.log_path.read_text()
            assert "people feed sync failed" not in log, (service, log[-2000:])


def _etag(platform: RunningPlatform, person_id: str) -> str:
    response = platform.gateway.get(f"/v1/identity/people/{person_id}", headers=platform.admin_headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def test_start_up_does_not_migrate_and_refuses_a_schema_behind(
    replicated: ReplicatedPlatform, tmp_path: Path
) -> None:
    runner = replicated.runner
    service = runner.spec.service("devices")
    url = fresh_database_url("devices_behind", tmp_path, _postgres())
    try:
        env = {**runner.service_env(service), "DEVICES_DATABASE_URL": url}
        behind = ServiceProcess("devices", service.app, free_port(), env, tmp_path / "behind.log")
        with pytest.raises(RuntimeError):
            behind.start(timeout=20)
        log = (tmp_path / "behind.log").read_text()
        assert "python3 manage.py migrate" in log and "no migrations applied" in log
        assert (
            _count(url, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'phone_custody'")
            == 0
        )
        # The migration step, once; then replicas start without migrating.
        upgrade(service.dir, url)
        started = ServiceProcess("devices", service.app, free_port(), env, tmp_path / "after.log").start()
        try:
            assert httpx.get(started.url + "/readyz", timeout=10).status_code == 200
        finally:
            started.stop()
    finally:
        drop_test_database(url)


def test_with_identity_down_consent_checks_go_on_through_both_gateways(
    replicated: ReplicatedPlatform,
) -> None:
    platform = running(replicated)
    school = platform.new_school()
    pupil = school.pupil(year_group="5")
    carer = school.carer(pupil)
    school.sync()
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
    mle = school.client_headers(["consent:check"], client_id="mle-replicas")
    body = {"purpose": "mle", "media_type": "photo", "framing": "group", "pupil_ids": [pupil["id"]]}
    gateways = [p.url for p in replicated.runner.replicas("gateway")]

    for process in replicated.runner.replicas("identity"):
        process.stop(kill=True)
    try:
        for gateway in gateways:
            ready = httpx.get(gateway + "/readyz", timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["not_ready"] == ["identity"]
        # Many checks, spread over both gateways and (through them) both media-consent replicas.
        for i in range(20):
            response = httpx.post(gateways[i % 2] + CHECKS, json=body, headers=mle, timeout=30)
            assert response.status_code == 200, response.text
            assert response.json()["decision"] == "allow"
        with fresh(replicated.front) as client:
            for _ in range(4):
                assert client.post(CHECKS, json=body, headers=mle).json()["decision"] == "allow"
                assert client.get("/readyz").status_code == 200
        # Identity's own routes answer 503 from the gateways, not a hang.
        assert httpx.get(
            gateways[0] + "/v1/identity/schools", headers=platform.admin_headers
        ).status_code in (
            502,
            503,
        )
    finally:
        replicated.runner.start_service("identity")
