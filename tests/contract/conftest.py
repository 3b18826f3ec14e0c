"""The contract tests' world: the running platform, its merged OpenAPI and two schools of records."""

from __future__ import annotations

from typing import Any

import pytest

from tests.platform import RunningPlatform
from tests.world import World, build_world


@pytest.fixture(scope="module")
def world(platform: RunningPlatform) -> World:
    return build_world(platform)


@pytest.fixture(scope="module")
def merged_openapi(platform: RunningPlatform) -> dict[str, Any]:
    # A service builds its document on first request (slow on a busy machine, so the gateway may
    # have timed out); the gateway rebuilds an incomplete document on the next request.
    for _ in range(5):
        response = platform.gateway.get("/openapi.json")
        assert response.status_code == 200
        doc: dict[str, Any] = response.json()
        if not doc["info"].get("x-unavailable-services"):
            return doc
    raise AssertionError(f"the merged OpenAPI lacks services: {doc['info']}")
