"""Incidents tests run in-process against a migrated database, each test in a rolled-back transaction.

`school` puts a school with its people into the replica tables directly (tests/world.py, as identity's
feed would), and `school.headers(role)` gives request headers for a member of that school's staff.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from incidents.config import IncidentsSettings
from incidents.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.world import School


@pytest.fixture
async def app(database_for, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    url = database_for("incidents")
    settings = IncidentsSettings(database_url=url, environment="test", export_chunk_rows=7)
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://incidents.test") as c:
        yield c


async def add_school(
    app: FastAPI,
    tokens: TokenFactory,
    *,
    la_code: str = "201",
    pupils: int = 3,
    births: list[date | None] | None = None,
) -> School:
    """A school of `la_code` with its staff and `pupils` pupils (Pupil0 Child, ...; `births` their dates of birth)."""
    school = await School.create(app.state.sessionmaker, tokens, name=f"School {la_code}", la_code=la_code)
    births = births or [date(2016, 3, 1 + i) for i in range(pupils)]
    for i in range(pupils):
        await school.add_pupil(
            f"Pupil{i}",
            "Child",
            year_group=str(3 + i % 4),
            date_of_birth=births[i] if i < len(births) else None,
            external_ref=f"UPN{i:04d}",
        )
    return school


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> School:
    return await add_school(app, tokens)


@pytest.fixture
def incident_body(school: School) -> Callable[..., dict[str, object]]:
    def make(category: str = "cyberbullying", **overrides: object) -> dict[str, object]:
        body: dict[str, object] = {
            "category": category,
            "severity": "medium",
            "occurred_at": "2026-09-06T19:30:00Z",
            "summary": "Unkind messages in a class group chat, reported by a parent.",
            "location": "off_site",
            "people": [
                {"person_id": str(school.pupils[0]), "role": "affected"},
                {"person_id": str(school.pupils[1]), "role": "subject"},
            ],
        }
        body.update(overrides)
        return body

    return make


async def report(
    client: httpx.AsyncClient,
    school: School,
    body: dict,
    role: str = "teacher",
    *,
    person_id: uuid.UUID | None = None,
) -> dict:
    """Report an incident as `role` and return the created incident."""
    response = await client.post(
        "/v1/incidents", json=body, headers=school.headers(role, person_id=person_id)
    )
    assert response.status_code == 201, response.text
    return response.json()
