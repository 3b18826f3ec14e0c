"""The consent check's PostgreSQL hot path: a small asyncpg pool kept by the app, one statement to
read everything the rules need about every pupil named, one to keep the record of the check.

Measured (bench/consent_check.py): the same read through SQLAlchemy's async session costs 1.5-2.5 ms
of CPU per check on this machine kind, bare asyncpg about 0.3 ms; the check's other costs (token,
FastAPI, the RSA receipt) are about 1.5 ms, so SQLAlchemy was most of it. The pool is used only for
these two statements; everything else in the service goes through SQLAlchemy as usual.

Guarantees, the same as the session path (checks/service.py), which SQLite and the in-process tests
use: both statements run on one connection in autocommit. The read is one statement, so it sees one
committed snapshot, taken when the check starts: a withdrawal committed before it is always seen
(as under READ COMMITTED, which the session path also runs at). The record is written, and its
commit acknowledged, before the answer is signed and sent; if it cannot be written there is no answer.
tests/media_consent/test_pg_hot_path.py checks that both paths read the same facts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from media_consent.consent.rules import PupilFacts
from servicekit.errors import ServiceUnavailable

# The columns and joins of service._FACTS, in PostgreSQL's SQL (the test compares the two).
FACTS_SQL = (
    "SELECT p.id, p.school_id, p.kind, p.is_on_roll, p.given_name, p.family_name,"
    " c.version, c.grants, c.withdrawn_purposes, c.valid_until, n.is_active"
    " FROM replica_person p"
    " LEFT OUTER JOIN consent_current c ON c.pupil_id = p.id"
    " LEFT OUTER JOIN never_publish n ON n.pupil_id = p.id"
    " WHERE p.id = ANY($1::uuid[])"
)
STORE_SQL = (
    "INSERT INTO consent_check (id, school_id, actor, source, purpose, media_type, framing,"
    " pupil_ids, decision, results, checked_at, request_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)

# The database cannot be reached (down, restarting, refusing, timed out): a 503, as servicekit
# answers for SQLAlchemy's connection errors. Errors in a statement stay 500s.
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


async def _init_connection(conn: Any) -> None:
    # JSON columns come back as Python values, as SQLAlchemy's JSON type gives them.
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def open_pool(url: str, size: int) -> Any:
    """A pool of at most `size` connections, opened lazily (the service starts without its database)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return await asyncpg.create_pool(
        dsn, min_size=0, max_size=size, init=_init_connection, command_timeout=30
    )


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The service's database is not reachable just now; try again shortly.",
        slug="database-unavailable",
        headers={"Retry-After": "5"},
    )


async def load_facts(conn: Any, pupil_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PupilFacts]:
    """Everything the rules need about these people, in one statement."""
    rows = await conn.fetch(FACTS_SQL, pupil_ids)
    return {
        row[0]: PupilFacts(
            school_id=row[1],
            kind=row[2],
            is_on_roll=bool(row[3]),
            given_name=row[4],
            family_name=row[5],
            version=row[6],
            grants=row[7],
            withdrawn_purposes=row[8],
            valid_until=row[9],
            is_restricted=bool(row[10]),
        )
        for row in rows
    }


async def store(
    conn: Any,
    *,
    check_id: uuid.UUID,
    school_id: uuid.UUID,
    actor: str,
    source: str,
    purpose: str,
    media_type: str,
    framing: str,
    pupil_ids: Sequence[uuid.UUID],
    decision: str,
    results: list[dict[str, Any]],
    now: datetime,
    request_id: str | None,
) -> None:
    """Keep the check (the same row as service.store writes)."""
    await conn.execute(
        STORE_SQL,
        check_id,
        school_id,
        actor,
        source,
        purpose,
        media_type,
        framing,
        [str(p) for p in pupil_ids],
        decision,
        results,
        now,
        request_id,
    )
