"""Identity tests run in-process against a migrated database, each test in a rolled-back transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings
from identity.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.identity.signin_support import api, idapp, keys_dir, signer  # noqa: F401 - part A's fixtures


@pytest.fixture
async def app(database_for, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    url = database_for("identity")
    settings = IdentitySettings(database_url=url, environment="test")
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity.test") as c:
        yield c
