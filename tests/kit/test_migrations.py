"""Every service's models and migrations agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib

import pytest

from servicekit.migrations import differences
from tests.conftest import SERVICE_DIRS

SERVICES = [name for name, path in SERVICE_DIRS.items() if (path / "migrations").is_dir()]


@pytest.mark.parametrize("service", SERVICES)
def test_models_match_migrations(service: str, database_for) -> None:
    models = importlib.import_module(f"{service}.models")
    assert differences(models.Base.metadata, database_for(service)) == []
