"""The gateway in front of the real identity service: tokens signed by identity's key pass, the
OAuth endpoints are public and get the form body, forgeries stop at the gateway, and slow token
uploads do not keep anyone else from signing in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from identity.roles import scopes_for_roles
from identity.security import totp
from servicekit.clock import SystemClock
from servicekit.platform import PlatformRunner
from servicekit.testing import TokenFactory, drop_test_database
from tests.gateway.conftest import RawClient
from tests.platform import start_platform

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def identity_behind_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PlatformRunner, TokenFactory]]:
    # identity and the gateway only
    runner, tokens = start_platform(Path(tmp_path_factory.mktemp("real-identity")), services="identity")
    try:
        yield runner, tokens
    finally:
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


async def test_a_token_of_identity_reaches_identity_through_the_gateway(identity_behind_gateway) -> None:
    runner, tokens = identity_behind_gateway
    admin = tokens.headers(scopes=sorted(scopes_for_roles(["platform_admin"])), roles=["platform_admin"])
    async with httpx.AsyncClient(base_url=runner.url("gateway"), timeout=30) as c:
        schools = await c.get("/v1/identity/schools", headers={**admin, "X-Request-ID": "real-id-1"})
        assert schools.status_code == 200, schools.text
        assert "items" in schools.json()
        assert schools.headers["x-request-id"] == "real-id-1"

        metadata = await c.get("/.well-known/oauth-authorization-server")
        assert metadata.status_code == 200
        assert metadata.json()["token_endpoint"].endswith("/oauth/token")

        refused = await c.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "wrong"},
        )
        assert refused.status_code in (400, 401)
        assert refused.json()["error"] == "invalid_client"  # identity's answer: the form arrived

        forged = TokenFactory(issuer=tokens.issuer).headers(scopes=["schools:read"])
        assert (await c.get("/v1/identity/schools", headers=forged)).status_code == 401


async def test_256_slow_token_uploads_do_not_block_a_sign_in(identity_behind_gateway) -> None:
    """Issue 11, finding 9, as found, with the default settings: 256 connections each send a few
    bytes of a large /oauth/token body and stop. Before, each took one of the gateway's 256
    connections to identity while it waited for the rest, and every sign-in waited behind them."""
    runner, _tokens = identity_behind_gateway
    port = httpx.URL(runner.url("gateway")).port
    assert port is not None
    attackers = [await RawClient.connect(port) for _ in range(256)]
    try:
        for attacker in attackers:
            await attacker.send_head(
                "POST",
                "/oauth/token",
                {
                    "content-type": "application/x-www-form-urlencoded",
                    "content-length": "1000000",
                    "expect": "100-continue",
                },
            )
        for attacker in attackers:
            assert (await attacker.read_head(within=10))[0] == 100  # the gateway waits for its body
            await attacker.send(b"grant_type=password&username=")

        secrets = runner.secrets
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=runner.url("gateway"), timeout=5) as c:
            signed_in = await c.post(
                "/oauth/token",
                data={
                    "grant_type": "password",
                    "username": secrets.admin_username,
                    "password": secrets.admin_password,
                    "otp": totp.code_at(secrets.admin_totp_secret, SystemClock().now()),
                },
            )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["access_token"]
        assert time.monotonic() - started < 5
    finally:
        for attacker in attackers:
            attacker.close()
