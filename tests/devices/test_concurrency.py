"""Two returns of one phone at the same time, on real connections: exactly one succeeds.

No rolled-back outer transaction here: each request gets its own connection from the app's pool
(PostgreSQL: row locks; SQLite: BEGIN IMMEDIATE), as in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from devices.config import DevicesSettings
from devices.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, migrated_database
from tests.conftest import SERVICE_DIRS
from tests.devices.conftest import make_world
from tests.world import School

URL = "/v1/devices/phone-custody"


@pytest.fixture
async def committed_app(tmp_path: Path, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    with migrated_database("devices", SERVICE_DIRS["devices"], tmp_path) as url:
        settings = DevicesSettings(database_url=url, environment="test")
        application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
        tokens.clock = clock
        yield application
        await application.state.engine.dispose()


async def test_two_concurrent_returns_exactly_one_succeeds(
    committed_app: FastAPI, tokens: TokenFactory
) -> None:
    world: School = await make_world(committed_app, tokens, "Star Primary School")
    transport = httpx.ASGITransport(app=committed_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://devices.test") as client:
        for round_ in range(3):
            created = await client.post(
                URL,
                json={
                    "pupil_id": str(world.pupils[0]),
                    "kind": "daily_handin",
                    "description": f"Phone {round_}",
                    "storage_location": "Reception",
                },
                headers=world.headers("office"),
            )
            assert created.status_code == 201
            record = created.json()["id"]
            to_pupil = client.post(
                f"{URL}/{record}/return",
                json={"to_person_id": str(world.pupils[0])},
                headers=world.headers("office"),
            )
            to_carer = client.post(
                f"{URL}/{record}/return",
                json={"to_person_id": str(world.carers[0])},
                headers=world.headers("office_system"),
            )
            responses = await asyncio.gather(to_pupil, to_carer)
            assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
            winner = next(r for r in responses if r.status_code == 200).json()
            stored = (await client.get(f"{URL}/{record}", headers=world.headers("office"))).json()
            assert [e["kind"] for e in stored["events"]] == ["received", "returned"]
            assert stored["closed_to_person_id"] == winner["closed_to_person_id"]
