"""The gateway in front of the real identity service: tokens signed by identity's key pass, the
OAuth endpoints are public and get the form body, forgeries stop at the gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from identity.roles import scopes_for_roles
from servicekit.platform import PlatformRunner
from servicekit.testing import TokenFactory, drop_test_database
from tests.platform import start_platform

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def identity_behind_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PlatformRunner, TokenFactory]]:
    saved = os.environ.get("PLATFORM_SERVICES")
    os.environ["PLATFORM_SERVICES"] = "identity"  # identity and the gateway only
    try:
        runner, tokens = start_platform(Path(tmp_path_factory.mktemp("real-identity")))
    finally:
        if saved is None:
            os.environ.pop("PLATFORM_SERVICES", None)
        else:
            os.environ["PLATFORM_SERVICES"] = saved
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
