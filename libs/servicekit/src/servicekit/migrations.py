"""Alembic for every service: the shared env.py logic, upgrade, and the models-vs-migrations check.

A service's `migrations/env.py` is three lines:

    from identity.config import IdentitySettings
    from identity.models import Base
    from servicekit.migrations import run_env
    run_env(Base.metadata, default_url=IdentitySettings().database_url)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import make_url

import servicekit.models  # noqa: F401  (registers the kit tables on KitBase.metadata)
from servicekit.db import KitBase, sync_url

# servicekit's own tables are one migration branch ("servicekit") that every service's chain starts from.
KIT_VERSIONS = Path(__file__).resolve().parent / "kit_migrations" / "versions"


def target_metadata(service_metadata: MetaData) -> list[MetaData]:
    return [service_metadata, KitBase.metadata]


def run_env(service_metadata: MetaData, *, default_url: str) -> None:
    """Body of a service's alembic env.py (online mode only)."""
    config = context.config
    url = sync_url(config.get_main_option("sqlalchemy.url") or default_url)
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata(service_metadata),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def alembic_config(service_dir: Path, url: str) -> Config:
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option(
        "version_locations",
        f"{service_dir / 'migrations' / 'versions'}:{KIT_VERSIONS}",
    )
    config.set_main_option("sqlalchemy.url", sync_url(url))
    return config


def upgrade(service_dir: Path, url: str, revision: str = "heads") -> None:
    """Apply the service's migrations to the database at `url`."""
    _ensure_sqlite_folder(url)
    command.upgrade(alembic_config(service_dir, url), revision)


class SchemaMismatch(RuntimeError):
    """The database is not at the revisions this code's migrations end in: start-up refuses."""


def schema_revisions(service_dir: Path, url: str) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the heads of the service's migrations)."""
    heads = set(ScriptDirectory.from_config(alembic_config(service_dir, url)).get_heads())
    engine = create_engine(sync_url(url), poolclass=pool.NullPool, hide_parameters=True)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    return current, heads


def check_schema(service_dir: Path, url: str, *, name: str) -> None:
    """Refuse (SchemaMismatch, saying what to run) unless the database is at the migrations' heads.

    Replicas start with migrations already applied by one step of their own (`python3 manage.py
    migrate`, or the deployment's migration job); a replica never migrates at start, so two
    starting at once cannot race, and one started before the step says so instead of failing later.
    """
    current, heads = schema_revisions(service_dir, url)
    if current == heads:
        return
    at = ", ".join(sorted(current)) or "no migrations applied"
    raise SchemaMismatch(
        f"The {name} database schema is not the one this code needs (it is at {at}; the code "
        f"needs {', '.join(sorted(heads))}). Apply the migrations first: `python3 manage.py migrate` "
        "(or the deployment's migration job), then start the service again."
    )


def service_dir_for(package_file: str) -> Path | None:
    """The service's folder (the one with alembic.ini) for its package's `__file__`: the source
    checkout's services/<name>, else `$SERVICE_DIR` (the image's copy of it); None if neither."""
    candidates = [Path(package_file).resolve().parents[2]]
    if os.environ.get("SERVICE_DIR"):
        candidates.append(Path(os.environ["SERVICE_DIR"]).resolve())
    return next((c for c in candidates if (c / "alembic.ini").exists()), None)


def differences(service_metadata: MetaData, url: str) -> list[Any]:
    """What the models say that the migrated database does not (empty when they agree)."""
    combined = MetaData(naming_convention=service_metadata.naming_convention)
    for metadata in target_metadata(service_metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    engine = create_engine(sync_url(url), poolclass=pool.NullPool, hide_parameters=True)
    try:
        with engine.connect() as connection:
            ctx = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(ctx, combined))
    finally:
        engine.dispose()


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
