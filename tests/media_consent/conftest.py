"""Media-consent tests run in-process against a migrated database, each test in a rolled-back
transaction, with people put straight into the replica tables (tests/world.py, as the follower would)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from media_consent.config import MediaConsentSettings
from media_consent.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.world import School

BASE = "/v1/media-consent"


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-consent-keys")


@pytest.fixture
async def app(
    database_for, clock: FrozenClock, tokens: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    url = database_for("media_consent")
    settings = MediaConsentSettings(database_url=url, environment="test", keys_dir=str(keys_dir))
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as c:
        yield c


async def record_consent(
    client: httpx.AsyncClient,
    school: School,
    pupil_id: uuid.UUID,
    grants: dict[str, str],
    *,
    valid_until: str | None = None,
    given_by: uuid.UUID | None = None,
) -> httpx.Response:
    """Record a paper form as the office: grants {"website/photo": "individual", ...}."""
    given_by = given_by or await school.add_carer(pupil_id)
    body: dict[str, object] = {
        "pupil_id": str(pupil_id),
        "given_by": str(given_by),
        "grants": [
            {"purpose": k.split("/")[0], "media_type": k.split("/")[1], "level": v} for k, v in grants.items()
        ],
        "form_dated_on": "2026-09-01",
    }
    if valid_until:
        body["valid_until"] = valid_until
    response = await client.post(f"{BASE}/records", json=body, headers=school.headers("office"))
    assert response.status_code == 201, response.text
    return response


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> School:
    return await School.create(app.state.sessionmaker, tokens, la_code="316")


@pytest.fixture
async def other_school(app: FastAPI, tokens: TokenFactory) -> School:
    return await School.create(app.state.sessionmaker, tokens, name="Other Primary School", la_code="316")
