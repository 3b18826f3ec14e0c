"""Devices tests run in-process against a migrated database, each test in a rolled-back transaction.

`school` and `other_school` put a school's people straight into the people replica (tests/world.py,
as identity's feed would): its staff, two pupils, a carer with parental responsibility, a carer
without, a visitor and a leaver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devices.config import DevicesSettings
from devices.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.world import School


async def make_world(app: FastAPI, tokens: TokenFactory, name: str) -> School:
    """A school with its staff, two pupils (the first with a carer with parental responsibility
    and one without), a visitor and a member of staff who has left."""
    school = await School.create(app.state.sessionmaker, tokens, name=name)
    pupil = await school.add_pupil("Amara", "Okafor", year_group="5", external_ref="A123", date_of_birth=None)
    await school.add_pupil("Ben", "Hughes", year_group="6", external_ref="B456", date_of_birth=None)
    await school.add_carer(pupil, given_name="Grace", family_name="Okafor")
    await school.add_carer(
        pupil,
        parental_responsibility=False,
        relationship="step-parent",
        given_name="Sam",
        family_name="Okafor",
    )
    await school.add_person("visitor", "Vic", "Visitor")
    await school.add_person("staff", "Lee", "Leaver", roles=["teacher"], is_on_roll=False)
    return school


@pytest.fixture
async def app(database_for, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    url = database_for("devices")
    settings = DevicesSettings(database_url=url, environment="test")
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://devices.test") as c:
        yield c


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> School:
    return await make_world(app, tokens, "Star Primary School")


@pytest.fixture
async def other_school(app: FastAPI, tokens: TokenFactory) -> School:
    return await make_world(app, tokens, "Moon Primary School")
