"""What a service serves besides its API: the internal replica sync needs an operations token,
Swagger UI is off in production, and /openapi.json stays on for the gateway to merge."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from servicekit.app import REPLICA_SYNC_SCOPE, create_service_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.settings import ServiceSettings
from servicekit.testing import TokenFactory


class CountingFollower:
    """Stands in for the people follower (identity is not running here)."""

    def __init__(self) -> None:
        self.syncs = 0

    async def sync_once(self) -> int:
        self.syncs += 1
        return 0


@pytest.fixture
async def follower_app(kit_database: str, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    settings = ServiceSettings(database_url=kit_database, environment="test")
    app = create_service_app(
        settings=settings,
        title="Follower",
        routers=[],
        clock=clock,
        key_source=StaticKeySource(tokens.jwks),
        follow_people=True,
    )
    app.state.follower = CountingFollower()
    yield app
    await app.state.engine.dispose()


async def test_the_replica_sync_refuses_anyone_without_an_operations_token(
    follower_app: FastAPI, tokens: TokenFactory
) -> None:
    """Attack: whoever reaches a service makes it pull identity's whole feed, again and again."""
    transport = httpx.ASGITransport(app=follower_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        path = "/internal/replica/sync"
        assert (await client.post(path)).status_code == 401
        forged = TokenFactory(issuer=tokens.issuer).headers(scopes=[REPLICA_SYNC_SCOPE])
        assert (await client.post(path, headers=forged)).status_code == 401
        feed_only = tokens.headers(scopes=["identity:feed"], client_id="devices-feed")
        assert (await client.post(path, headers=feed_only)).status_code == 403
        assert follower_app.state.follower.syncs == 0
        allowed = tokens.headers(scopes=[REPLICA_SYNC_SCOPE], client_id="devices-feed")
        synced = await client.post(path, headers=allowed)
        assert synced.status_code == 200 and synced.json() == {"applied": 0}
        assert follower_app.state.follower.syncs == 1


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_a_service_serves_no_swagger_ui_and_keeps_the_schema_for_the_gateway(
    kit_database: str, clock: FrozenClock, tokens: TokenFactory, environment: str
) -> None:
    """FastAPI's Swagger UI loads from a CDN: the platform's docs are the gateway's /docs only."""
    settings = ServiceSettings(database_url=kit_database, environment=environment, docs_enabled=True)
    app = create_service_app(
        settings=settings, title="Kit", routers=[], clock=clock, key_source=StaticKeySource(tokens.jwks)
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service.test"
        ) as client:
            for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
                assert (await client.get(path)).status_code == 404
            schema = await client.get("/openapi.json")  # what gateway/openapi.py merges
            assert schema.status_code == 200 and schema.json()["info"]["title"] == "Kit"
    finally:
        await app.state.engine.dispose()
