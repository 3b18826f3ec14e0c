"""The gateway refuses every forged token before anything reaches a service, and follows a key
rotation at identity without a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from servicekit.clock import FrozenClock
from servicekit.jwt import SigningKey, generate_private_key_pem
from servicekit.testing import TokenFactory
from tests.gateway.conftest import Platform
from tests.kit.test_tokens import forgeries

pytestmark = pytest.mark.processes

FORGERIES = list(forgeries(TokenFactory(), FrozenClock()))


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_token_never_reaches_a_service(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory, forgery: str
) -> None:
    token = forgeries(live_tokens, FrozenClock(datetime.now(UTC)))[forgery]()
    before = platform.count(platform.incidents)
    response = await client.post(
        "/v1/incidents", json={"summary": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert_refused(response)
    assert platform.count(platform.incidents) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Token abc.def.ghi"},
    ],
    ids=["none", "basic", "empty bearer", "other scheme"],
)
async def test_no_usable_token_is_401(
    client: httpx.AsyncClient, platform: Platform, headers: dict[str, str]
) -> None:
    before = platform.count(platform.identity)
    assert_refused(await client.get("/v1/identity/people", headers=headers))
    assert platform.count(platform.identity) == before


async def test_the_valid_token_beside_the_forgeries_passes(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    response = await client.post("/v1/incidents", json={"summary": "x"}, headers=live_tokens.headers())
    assert response.status_code == 200


async def test_a_rotated_signing_key_is_accepted_without_a_restart(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory
) -> None:
    pid = platform.gateway.process.pid if platform.gateway.process else None
    old_token = live_tokens.token()
    assert (
        await client.get("/v1/incidents/x", headers={"Authorization": f"Bearer {old_token}"})
    ).status_code == 200
    # Identity publishes the next key beside the current one, then signs with it.
    new_key = SigningKey(generate_private_key_pem(), kid="rotated-key-2")
    platform.write_jwks([live_tokens.key.public_jwk(), new_key.public_jwk()])
    new_tokens = TokenFactory(new_key)
    response = await client.get("/v1/incidents/x", headers=new_tokens.headers())
    assert response.status_code == 200
    # The old key's tokens stay valid until they expire; the gateway process is the same one.
    fresh_old = live_tokens.token()
    assert (
        await client.get("/v1/incidents/x", headers={"Authorization": f"Bearer {fresh_old}"})
    ).status_code == 200
    assert platform.gateway.process is not None and platform.gateway.process.pid == pid
    assert platform.gateway.process.poll() is None
