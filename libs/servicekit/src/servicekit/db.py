"""Database access: engines for SQLite and PostgreSQL, the request's session, shared column types.

The request's session commits when the route returns and rolls back when it raises; service
functions only flush. The commit happens before the response is sent (the dependency's scope is
"function"), so nothing is acknowledged that was not stored.

Engines hide bound parameters (`hide_parameters=True`): the values of a failing statement (a
pupil's name, an incident's summary) would otherwise be written into the error's text, and so
into the logs, with every unexpected database error.

A row that must be stored even though the request is refused (the audit entry of a refusal,
`audit.record(..., survives_refusal=True)`) is kept aside with `keep_through_rollback`: the session
adds it just before the commit, or, when the request raises, writes it in a transaction of its own
after the rollback, so it never depends on the route returning instead of raising.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, Uuid, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("servicekit.db")

# The key, in the request's `session.info`, of the rows kept through a rollback (see get_session).
KEPT_ROWS = "servicekit.kept_rows"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata() -> MetaData:
    """A MetaData with the platform's constraint naming convention (stable migrations)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no zone, so it is added back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class IdMixin:
    """A UUID primary key."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


def sync_url(url: str) -> str:
    """The synchronous form of an async database URL (alembic runs synchronously)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
    elif parsed.drivername in ("postgresql+asyncpg", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def async_url(url: str) -> str:
    """The async form of a database URL: aiosqlite for SQLite, psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_sqlite_transactional(sync_engine: Any) -> None:
    """Let SQLAlchemy, not the sqlite3 module, issue BEGIN, so SAVEPOINTs and rollbacks are real.

    Also turns on foreign keys, WAL and a busy timeout for every connection.
    """

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine sized for one worker: SQLite gets one connection, PostgreSQL a fixed pool."""
    url = async_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        # aiosqlite logs every statement with its parameters at DEBUG; never let those through.
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30, hide_parameters=True)
        make_sqlite_transactional(engine.sync_engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=10,
        hide_parameters=True,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def upsert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the session's dialect, so that it takes that dialect's
    `on_conflict_do_nothing` / `on_conflict_do_update` (PostgreSQL's or SQLite's)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def keep_through_rollback(session: AsyncSession, make_row: Callable[[], object]) -> None:
    """Store the row `make_row()` builds whether the request commits or is refused (raises).

    For the audit entries of refusals only (`audit.record(..., survives_refusal=True)`); a change of a
    record kept through a refusal would be a half-done change. Only the request's session
    (`SessionDep`) keeps rows: any other session has no one to write them, so it refuses loudly.
    """
    kept: list[Callable[[], object]] | None = session.info.get(KEPT_ROWS)
    if kept is None:
        raise RuntimeError("Only the request's session (SessionDep) keeps rows through a rollback.")
    kept.append(make_row)


async def _write_kept(session: AsyncSession, kept: list[Callable[[], object]]) -> None:
    """After the rollback: the kept rows, freshly built, in a transaction of their own."""
    if not kept:
        return
    try:
        session.add_all([make_row() for make_row in kept])
        await session.commit()
    except Exception:
        # The refusal's own error is the one to report (the database may be what failed).
        log.exception("rows kept through a refused request's rollback were not stored")
        with contextlib.suppress(Exception):
            await session.rollback()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed when the route returns, rolled back when it raises.

    The rows kept with `keep_through_rollback` commit with the request, or, when it raises, in a
    transaction of their own after the rollback (never with any of the request's changes).
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        kept: list[Callable[[], object]] = []
        session.info[KEPT_ROWS] = kept
        try:
            yield session
            session.add_all([make_row() for make_row in kept])
            await session.commit()
        except Exception:
            await session.rollback()
            await _write_kept(session, kept)
            raise
        except BaseException:  # cancelled: nothing more is written
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


class KitBase(DeclarativeBase):
    """Base of the tables servicekit keeps in every service's database (audit, idempotency, ...)."""

    metadata = make_metadata()
