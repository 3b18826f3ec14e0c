"""Fixtures shared by the whole suite: tokens, clock, migrated databases per service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicekit.clock import FrozenClock
from servicekit.jwt import SigningKey, generate_private_key_pem
from servicekit.testing import TokenFactory, migrated_database

ROOT = Path(__file__).resolve().parent.parent
# Many apps start and stop in this one process: none of them may freeze its objects for good
# (servicekit.app.freeze_startup_objects). Services started as processes still do.
os.environ["PLATFORM_GC_FREEZE"] = "false"
SERVICE_DIRS = {
    "identity": ROOT / "services" / "identity",
    "incidents": ROOT / "services" / "incidents",
    "devices": ROOT / "services" / "devices",
    "media_consent": ROOT / "services" / "media-consent",
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey(generate_private_key_pem(), kid="test-key-1")


@pytest.fixture
def tokens(signing_key: SigningKey, clock: FrozenClock) -> TokenFactory:
    """Signs real access tokens with the test key, at the test's clock (apps get its JWKS)."""
    return TokenFactory(signing_key, clock=clock)


@pytest.fixture(scope="session")
def database_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """`database_for("identity")`: the URL of a migrated database for that service, made once a session."""
    made: dict[str, str] = {}
    stack = []

    def make(service: str) -> str:
        if service not in made:
            cm = migrated_database(service, SERVICE_DIRS[service], tmp_path_factory.mktemp(service))
            made[service] = cm.__enter__()
            stack.append(cm)
        return made[service]

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


# The real platform on loopback, as a session fixture for the tests that go through the gateway.
from tests.browser import browser, page  # noqa: E402, F401 - Chromium for the page tests
from tests.platform import demo_school, platform  # noqa: E402, F401
