"""The real platform on loopback for tests: identity, the services and the gateway as processes.

    def test_something(platform):
        school = platform.new_school()
        pupil = school.pupil(year_group="3")
        carer = school.carer(pupil)
        school.sync()                                   # services follow identity's feed now
        r = platform.gateway.post("/v1/...", headers=school.headers("office"), json=...)

Tokens are signed with identity's own active key (the fixture creates identity's key store before
starting it), so the gateway and the services verify them exactly as they verify identity's.
`PLATFORM_SERVICES=identity,media_consent` limits which services start (while developing one).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.clock import SystemClock
from servicekit.keystore import KeyStore
from servicekit.platform import PlatformRunner, PlatformSecrets, PlatformSpec, load_spec
from servicekit.testing import TokenFactory, drop_test_database, free_port, fresh_database_url
from tests.balancer import RoundRobin
from tests.world import caller_headers

ROOT = Path(__file__).resolve().parent.parent


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 400, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


@dataclass
class SchoolKit:
    """One school of the running platform, with people made through identity's API."""

    platform: RunningPlatform
    id: str
    la_code: str
    staff: dict[str, str] = field(default_factory=dict)

    def person(self, kind: str, **body: Any) -> dict[str, Any]:
        body.setdefault("given_name", "Test")
        body.setdefault("family_name", f"Person{uuid.uuid4().hex[:6]}")
        return dict(
            _ok(
                self.platform.gateway.post(
                    "/v1/identity/people",
                    json={"school_id": self.id, "kind": kind, **body},
                    headers=self.platform.admin_headers,
                )
            )
        )

    def pupil(self, year_group: str = "3", **body: Any) -> dict[str, Any]:
        return self.person("pupil", year_group=year_group, **body)

    def carer(
        self,
        pupil: dict[str, Any],
        *,
        parental_responsibility: bool = True,
        relationship: str = "mother",
        **body: Any,
    ) -> dict[str, Any]:
        carer = self.person("parent", **body)
        _ok(
            self.platform.gateway.post(
                f"/v1/identity/people/{pupil['id']}/carers",
                json={
                    "carer_id": carer["id"],
                    "relationship": relationship,
                    "parental_responsibility": parental_responsibility,
                },
                headers=self.platform.admin_headers,
            )
        )
        return carer

    def staff_person(self, role: str) -> str:
        """The person id of this school's member of staff in `role` (made on first use)."""
        if role not in self.staff:
            kind = "governor" if role == "governor" else "parent" if role == "parent" else "staff"
            self.staff[role] = self.person(kind, given_name=role.replace("_", " ").title())["id"]
        return self.staff[role]

    def headers(self, role: str, *, person_id: str | None = None, **claims: Any) -> dict[str, str]:
        """A token for someone of this school holding `role` (the role's scopes from identity/roles.py)."""
        person = person_id or self.staff_person(role)
        return caller_headers(
            self.platform.tokens,
            role,
            school_id=self.id,
            la_code=self.la_code,
            person_id=person,
            subject=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/{person}/{role}")),
            **claims,
        )

    def client_headers(self, scopes: list[str], *, client_id: str | None = None) -> dict[str, str]:
        """A token for an outside system's OAuth client bound to this school."""
        return self.platform.tokens.headers(
            scopes=scopes, school_id=self.id, client_id=client_id or f"client-{uuid.uuid4().hex[:8]}"
        )

    def sync(self) -> None:
        self.platform.runner.sync_replicas()


@dataclass
class RunningPlatform:
    runner: PlatformRunner
    tokens: TokenFactory
    gateway: httpx.Client

    @property
    def admin_headers(self) -> dict[str, str]:
        return caller_headers(self.tokens, "platform_admin")

    def new_school(self, *, la_code: str = "202", name: str | None = None) -> SchoolKit:
        urn = f"{uuid.uuid4().int % 900000 + 100000}"
        school = _ok(
            self.gateway.post(
                "/v1/identity/schools",
                json={"name": name or f"Test School {urn}", "urn": urn, "la_code": la_code},
                headers=self.admin_headers,
            )
        )
        return SchoolKit(self, school["id"], la_code)

    def la_headers(self, la_code: str, scopes: list[str]) -> dict[str, str]:
        return self.tokens.headers(
            scopes=scopes, la_code=la_code, client_id=f"la-{la_code}-{uuid.uuid4().hex[:6]}"
        )


def selected_spec(spec: PlatformSpec, wanted: str | None = None) -> PlatformSpec:
    wanted = wanted or os.environ.get("PLATFORM_SERVICES")
    if not wanted:
        return spec
    names = {"identity", *wanted.split(",")}
    return PlatformSpec(
        spec.root,
        spec.gateway_port,
        spec.gateway_app,
        tuple(s for s in spec.services if s.name in names),
        console=spec.console if "console" in names else None,
    )


# Tests sign in and call from one loopback address many times a minute: the gateway's rate limits
# and per-client quotas are lifted here (their own tests start gateways with small limits).
TEST_LIMITS = {
    "GATEWAY_RATE_LIMIT_TOKEN_PER_ADDRESS": "1000000",
    "GATEWAY_RATE_LIMIT_PER_CLIENT": "1000000",
    "GATEWAY_CLIENT_QUOTAS": "[]",
}


# The test platforms run in the "test" environment with the development environment's outbound rule
# (loopback targets, where the tests' receivers listen) and no DNS for webhook or back-channel logout
# targets: nothing a test registers is looked up outside this host.
TEST_ENV = {
    "MEDIA_CONSENT_WEBHOOK_ALLOW_LOOPBACK": "true",
    "MEDIA_CONSENT_WEBHOOK_RESOLVE_DNS": "false",
    "IDENTITY_BACKCHANNEL_ALLOW_LOOPBACK": "true",
    "IDENTITY_BACKCHANNEL_RESOLVE_DNS": "false",
}


def start_platform(
    var_dir: Path,
    *,
    limits: dict[str, str] | None = None,
    services: str | None = None,
    database: str | None = None,
    replica_ports: dict[str, list[int]] | None = None,
    ports: dict[str, int] | None = None,
    **runner_options: Any,
) -> tuple[PlatformRunner, TokenFactory]:
    """`limits={}` keeps the gateway's default limits; `services="identity"` starts only those;
    `database`: a PostgreSQL URL whose server gets the databases (default TEST_DATABASE_URL's);
    `replica_ports`/`ports`: several replicas per process behind the given front ports (see
    `start_replicated_platform`)."""
    limits = TEST_LIMITS if limits is None else limits
    runner_options["extra_env"] = {**TEST_ENV, **limits, **runner_options.get("extra_env", {})}
    spec = selected_spec(load_spec(ROOT), services)
    secrets = PlatformSecrets.load_or_create(var_dir / "platform-secrets.json", spec.services)
    urls = {s.name: fresh_database_url(s.name, var_dir, database) for s in spec.services}
    ports = ports or ({s.name: free_port() for s in spec.services} | {"gateway": free_port()})
    if spec.console is not None and spec.console.name not in ports:
        ports[spec.console.name] = free_port()
    runner_options["replica_ports"] = replica_ports or {}
    runner = PlatformRunner(
        spec=spec,
        var_dir=var_dir,
        secrets=secrets,
        database_urls=urls,
        ports=ports,
        environment="test",
        **runner_options,
    )
    store = KeyStore(var_dir / "keys", SystemClock())
    store.ensure()
    tokens = TokenFactory(store.signing_key(), issuer=runner.issuer)
    runner.migrate()
    try:
        runner.start()
    except BaseException:
        runner.stop()
        for url in urls.values():
            drop_test_database(url)
        raise
    return runner, tokens


@dataclass
class ReplicatedPlatform:
    """The platform with several replicas of every process, each process behind its own
    round-robin balancer (`balancers[name]`, on the port the others reach it at)."""

    runner: PlatformRunner
    tokens: TokenFactory
    balancers: dict[str, RoundRobin]

    @property
    def front(self) -> str:
        """The balancer in front of the gateways: what a user's browser or the MLE calls."""
        return self.balancers["gateway"].url

    def stop(self) -> None:
        self.runner.stop()
        for balancer in self.balancers.values():
            balancer.stop()
        for url in self.runner.database_urls.values():
            drop_test_database(url)


def start_replicated_platform(
    var_dir: Path, *, replicas: int = 2, gateways: int = 2, **options: Any
) -> ReplicatedPlatform:
    """`replicas` processes of every service and `gateways` gateways, each name behind a
    round-robin balancer (tests/balancer.py); the services reach identity, and the gateways the
    services, through those balancers, as they would through a Kubernetes Service."""
    spec = selected_spec(load_spec(ROOT), options.get("services"))
    counts = {s.name: replicas for s in spec.services} | {"gateway": gateways}
    replica_ports = {name: [free_port() for _ in range(n)] for name, n in counts.items()}
    balancers = {name: RoundRobin(ports).start() for name, ports in replica_ports.items()}
    try:
        runner, tokens = start_platform(
            var_dir,
            replica_ports=replica_ports,
            ports={name: b.port for name, b in balancers.items()},
            **options,
        )
    except BaseException:
        for balancer in balancers.values():
            balancer.stop()
        raise
    return ReplicatedPlatform(runner, tokens, balancers)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    var_dir = tmp_path_factory.mktemp("platform")
    runner, tokens = start_platform(var_dir)
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        yield RunningPlatform(runner, tokens, gateway)
    finally:
        gateway.close()
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


@pytest.fixture(scope="session")
def demo_school(platform: RunningPlatform) -> Path:
    """The run command's demo school (scripts/demo.py), seeded once on the session's platform.

    Returns its var/demo-credentials.txt (var/demo.json beside it), as `python3 manage.py run` leaves them.
    """
    from scripts import demo

    return demo.seed(platform.runner)
