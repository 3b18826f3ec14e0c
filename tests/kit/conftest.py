"""A servicekit-only app on a fresh database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine

from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.db import KitBase, sync_url
from servicekit.settings import ServiceSettings
from servicekit.testing import TokenFactory, drop_test_database, fresh_database_url
from tests.kit.kitapp import Base, create_app


@pytest.fixture
def kit_database(tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url("kit", tmp_path)
    engine = create_engine(sync_url(url))
    Base.metadata.create_all(engine)
    KitBase.metadata.create_all(engine)
    engine.dispose()
    yield url
    drop_test_database(url)


@pytest.fixture
async def kit_app(kit_database: str, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    settings = ServiceSettings(database_url=kit_database, environment="test", max_body_bytes=2048)
    app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    yield app
    await app.state.engine.dispose()


@pytest.fixture
async def kit_client(kit_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=kit_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        yield client
