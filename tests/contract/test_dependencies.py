"""Every dependency of every route is asynchronous: FastAPI runs a plain `def` dependency (or a
sync generator) in a worker thread on every request, a thread hop PERFORMANCE.md measured at about
a quarter of a small endpoint's cost. A dependency that does no I/O is written `async def` too."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from devices.config import DevicesSettings
from devices.main import create_app as devices_app
from identity.config import IdentitySettings
from identity.main import create_app as identity_app
from incidents.config import IncidentsSettings
from incidents.main import create_app as incidents_app
from media_consent.config import MediaConsentSettings
from media_consent.main import create_app as media_consent_app
from servicekit.auth import StaticKeySource

SERVICES: dict[str, tuple[Callable[..., FastAPI], Callable[..., Any]]] = {
    "identity": (identity_app, IdentitySettings),
    "incidents": (incidents_app, IncidentsSettings),
    "devices": (devices_app, DevicesSettings),
    "media_consent": (media_consent_app, MediaConsentSettings),
}


def _is_async(call: Any) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def sync_dependencies(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None and not _is_async(sub.call):
            found.append(getattr(sub.call, "__qualname__", repr(sub.call)))
        found += sync_dependencies(sub)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_runs_a_dependency_in_a_thread(service: str, tmp_path: Path) -> None:
    factory, settings_class = SERVICES[service]
    settings = settings_class(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", environment="test"
    )
    app = factory(settings, key_source=StaticKeySource(lambda: []))
    # The routes as FastAPI serves them, with their routers' own dependencies included.
    routes = [r for r in iter_route_contexts(app.routes) if getattr(r, "dependant", None) is not None]
    assert len(routes) > 5
    found = {route.path: names for route in routes if (names := sync_dependencies(route.dependant))}
    assert found == {}
