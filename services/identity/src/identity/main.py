"""The identity service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from identity.config import IdentitySettings
from servicekit.app import create_service_app
from servicekit.auth import KeySource
from servicekit.clock import Clock

# Each domain adds its router here.
ROUTERS: list[APIRouter] = []


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
