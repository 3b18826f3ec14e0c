"""The consent check's PostgreSQL hot path, `PgCheckStore` (a `CheckStore`, checks/store.py): a small
asyncpg pool kept by the app, one statement to read everything the rules need about every pupil
named, one to keep the record of the check.

Measured (bench/consent_check.py): the same read through SQLAlchemy's async session costs 1.5-2.5 ms
of CPU per check on this machine kind, bare asyncpg about 0.3 ms; the check's other costs (token,
FastAPI, the receipt) are about 1.5 ms, so SQLAlchemy was most of it. The pool is used only for
these two statements; everything else in the service goes through SQLAlchemy as usual.

Guarantees, the same as the session path (checks/store.py), which SQLite and the in-process tests
use. The read is one statement in autocommit, so it sees one committed snapshot, taken when the
check starts: a withdrawal committed before it is always seen (as under READ COMMITTED, which the
session path also runs at). The record is written, and its commit acknowledged, before the answer is
signed and sent; if it cannot be written there is no answer. Records of checks in flight at the
same moment share one commit (PgCheckStore.store).
tests/media_consent/test_pg_hot_path.py checks that both paths read the same facts.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from media_consent.checks.service import CheckRecord
from media_consent.consent.rules import PupilFacts, pair_key
from servicekit.errors import ServiceUnavailable

# The rows of service._FACTS, but of the consent record only what this check's rules read: the
# level granted for the check's purpose/media pair ($2) and whether its purpose was withdrawn ($3),
# so no JSON is decoded per pupil. tests/media_consent/test_pg_hot_path.py checks both reads give
# the same answers.
FACTS_SQL = (
    "SELECT p.id, p.school_id, p.kind, p.is_on_roll, p.given_name, p.family_name,"
    " c.version, c.grants ->> $2, c.withdrawn_purposes::jsonb ? $3, c.valid_until, n.is_active"
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
# A server shutting down ends its sessions with an operator-intervention error (57P01 and kin); a
# pooled connection it closed while idle can surface, on its next use, as asyncpg's
# InternalClientError ("cannot switch to state ..."): both mean the database went away
# (tests/faults/test_database_restart.py restarts PostgreSQL under load).
UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InternalClientError,
    asyncpg.TooManyConnectionsError,
)


# Any other error of a statement. asyncpg logs no parameters, but its messages quote the values
# the server or the encoder refused, so such an error leaves as StatementFailed, naming only its
# kind and SQLSTATE, without its cause (the values never reach a log line or a traceback).
STATEMENT_ERRORS = (asyncpg.PostgresError,)


class StatementFailed(RuntimeError):
    """A hot-path statement failed (a 500, as for any unexpected error), without the values."""


def statement_failed(exc: BaseException) -> StatementFailed:
    return StatementFailed(f"{type(exc).__name__} (SQLSTATE {getattr(exc, 'sqlstate', None)})")


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


async def _init_connection(conn: Any) -> None:
    # The record's JSON columns are written from Python values, as SQLAlchemy's JSON type does.
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release(conn: Any) -> None:
    """What the pool does when a check hands its connection back.

    asyncpg's default is a round trip (unlock advisory locks, close cursors, UNLISTEN, RESET ALL)
    for state these two statements never make. A transaction left open (never, in autocommit) is
    rolled back; `is_in_transaction` is read locally, without a round trip.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def open_pool(url: str, size: int) -> Any:
    """A pool of at most `size` connections, opened lazily (the service starts without its database)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return await asyncpg.create_pool(
        dsn, min_size=0, max_size=size, init=_init_connection, reset=_release, command_timeout=30
    )


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The service's database is not reachable just now; try again shortly.",
        slug="database-unavailable",
        headers={"Retry-After": "5"},
    )


async def load_facts(
    conn: Any, pupil_ids: Sequence[uuid.UUID], *, purpose: str, media_type: str
) -> dict[uuid.UUID, PupilFacts]:
    """What the rules need about these people for one purpose and media type, in one statement.

    The facts carry the consent record as far as this check reads it: `grants` holds the one pair
    asked about (absent: `none`), `withdrawn_purposes` the purpose when it was withdrawn.
    """
    pair = pair_key(purpose, media_type)
    return _facts(await conn.fetch(FACTS_SQL, pupil_ids, pair, purpose), pair, purpose)


def _facts(rows: Sequence[Any], pair: str, purpose: str) -> dict[uuid.UUID, PupilFacts]:
    withdrawn = [purpose]
    facts = {}
    for row in rows:
        has_record = row[6] is not None
        level = row[7]
        facts[row[0]] = PupilFacts(
            school_id=row[1],
            kind=row[2],
            is_on_roll=bool(row[3]),
            given_name=row[4],
            family_name=row[5],
            version=row[6],
            grants=({pair: level} if level is not None else {}) if has_record else None,
            withdrawn_purposes=(withdrawn if row[8] else []) if has_record else None,
            valid_until=row[9],
            is_restricted=bool(row[10]),
        )
    return facts


class PgCheckStore:
    """The check's reads on the pool, and its records, the checks in flight sharing one transaction
    (group commit).

    Each check waits until its own row is committed before it is answered; while one batch commits,
    the next gathers, so under load one round trip and one commit serve many checks (measured: the
    insert was half of the check's database round trips). A failed batch fails every check in it:
    none of them is answered. A database that cannot be reached is a 503 (`unavailable`).
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._pending: list[tuple[CheckRecord, asyncio.Future[None]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def load_facts(
        self, pupil_ids: Sequence[uuid.UUID], *, purpose: str, media_type: str
    ) -> dict[uuid.UUID, PupilFacts]:
        """As `load_facts` above, on a connection of the pool."""
        pair = pair_key(purpose, media_type)
        try:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(FACTS_SQL, pupil_ids, pair, purpose)
        except UNREACHABLE as exc:
            raise unavailable() from exc
        except STATEMENT_ERRORS as exc:
            raise statement_failed(exc) from None
        return _facts(rows, pair, purpose)

    async def store(self, record: CheckRecord) -> None:
        """Keep the check (a row as service.store writes), committed with the checks in flight."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.create_task(self._flush())
        # Shielded: a caller that goes away does not cancel the other checks' shared commit.
        try:
            await asyncio.shield(done)
        except UNREACHABLE as exc:
            raise unavailable() from exc
        except STATEMENT_ERRORS as exc:
            raise statement_failed(exc) from None

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self.pool.acquire() as conn:
                        # One statement, one implicit transaction: all the rows or none.
                        await conn.executemany(STORE_SQL, [row for row, _ in batch])
                except BaseException as exc:  # every waiter learns of the failure, then it goes on
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._flushing = False
