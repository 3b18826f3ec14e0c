"""Gateway fixtures: test upstreams and gateways as real processes on loopback, and in-process
gateways with a frozen clock for the time-dependent rules (rate-limit windows, breaker cool-down)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings
from gateway.main import Gateway, create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.jwt import SigningKey
from servicekit.testing import ServiceProcess, TokenFactory, free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join([str(ROOT), str(ROOT / "gateway" / "src"), os.environ.get("PYTHONPATH", "")])
UPSTREAM_APP = "tests.gateway.upstream_app:create_app"
GATEWAY_APP = "gateway.main:create_app"

pytestmark = pytest.mark.processes


def start_upstream(
    name: str, prefix: str, tmp: Path, *, jwks_file: Path | None = None, port: int | None = None
) -> ServiceProcess:
    env = {"UPSTREAM_NAME": name, "UPSTREAM_PREFIX": prefix, "PYTHONPATH": PYTHONPATH}
    if jwks_file is not None:
        env["UPSTREAM_JWKS_FILE"] = str(jwks_file)
    return ServiceProcess(name, UPSTREAM_APP, port or free_port(), env, tmp / f"{name}.log").start()


def upstream_list(procs: dict[str, tuple[ServiceProcess, list[str]]], **extra: Any) -> str:
    return json.dumps(
        [
            {"name": name, "url": proc.url, "prefixes": prefixes, **extra}
            for name, (proc, prefixes) in procs.items()
        ]
    )


def start_gateway(name: str, tmp: Path, env: dict[str, str]) -> ServiceProcess:
    # The gateway handles X-Forwarded-For itself (PLATFORM_TRUSTED_PROXIES): uvicorn must not.
    full = {"PYTHONPATH": PYTHONPATH, "ENVIRONMENT": "test", "UVICORN_PROXY_HEADERS": "false", **env}
    return ServiceProcess(name, GATEWAY_APP, free_port(), full, tmp / f"{name}.log").start(
        ready_path="/livez"
    )


class Platform:
    """Two test upstreams (identity-like, serving the JWKS, and incidents) behind one gateway."""

    def __init__(self, tmp: Path, tokens: TokenFactory) -> None:
        self.tmp = tmp
        self.tokens = tokens
        self.jwks_file = tmp / "jwks.json"
        self.write_jwks(tokens.jwks())
        self.identity = start_upstream("identity", "/v1/identity", tmp, jwks_file=self.jwks_file)
        self.incidents = start_upstream("incidents", "/v1/incidents", tmp)
        self.upstreams = {
            "identity": (self.identity, ["/oauth", "/.well-known", "/v1/identity"]),
            "incidents": (self.incidents, ["/v1/incidents"]),
        }
        self.gateway = start_gateway(
            "gateway",
            tmp,
            {
                "GATEWAY_UPSTREAMS": upstream_list(self.upstreams),
                "PLATFORM_JWKS_URL": f"{self.identity.url}/.well-known/jwks.json",
            },
        )

    def write_jwks(self, keys: list[dict[str, Any]]) -> None:
        self.jwks_file.write_text(json.dumps({"keys": keys}))

    def count(self, proc: ServiceProcess) -> int:
        return int(httpx.get(f"{proc.url}/control/count").json()["count"])

    def stop(self) -> None:
        for proc in (self.gateway, self.identity, self.incidents):
            proc.stop()


@pytest.fixture(scope="session")
def live_tokens(signing_key: SigningKey) -> TokenFactory:
    """Tokens at the real time, for gateways running as processes (their clock is the system's)."""
    return TokenFactory(signing_key)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, live_tokens: TokenFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("gateway"), live_tokens)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as c:
        yield c


@pytest.fixture
def in_process(platform: Platform, tokens: TokenFactory, clock: FrozenClock) -> Callable[..., Any]:
    """`async with in_process(**settings) as (app, client)`: a gateway in this process, frozen clock."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(
        upstreams: str | None = None, **overrides: Any
    ) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
        settings = GatewaySettings(
            environment="test",
            upstreams=json.loads(upstreams or upstream_list(platform.upstreams)),
            **overrides,
        )
        app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks), configure_logs=False)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
                yield app, c

    return make
