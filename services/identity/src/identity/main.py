"""The identity service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from identity.agreements.router import router as agreements_router
from identity.changes.router import router as changes_router
from identity.config import IdentitySettings
from identity.imports.router import router as imports_router
from identity.people.router import router as people_router
from identity.schools.router import router as schools_router
from servicekit.app import create_service_app
from servicekit.auth import KeySource
from servicekit.clock import Clock

# Each domain adds its router here.
ROUTERS: list[APIRouter] = [
    schools_router,
    imports_router,  # before people: /people/imports is not a person id
    people_router,
    agreements_router,
    changes_router,
]


def create_app(
    settings: IdentitySettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or IdentitySettings()
    return create_service_app(
        settings=settings, title="Identity", routers=ROUTERS, clock=clock, key_source=key_source
    )
