"""Where the consent check reads its facts and keeps its record: one `CheckStore`, chosen once when
the app starts (main.py), reached by the check through the app's state.

Two implementations: `SessionCheckStore` reads and writes through the app's SQLAlchemy sessions
(SQLite, and the in-process tests, whose sessions are rolled back); `checks.pg.PgCheckStore` is
PostgreSQL's hot path, a small asyncpg pool of its own (checks/pg.py says why). Both keep the same
guarantees: the read sees what was committed before it, and `store` returns once the record is
committed, before anything is signed or answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from media_consent.checks import service as check_service
from media_consent.checks.service import CheckRecord
from media_consent.consent.rules import PupilFacts


class CheckStore(Protocol):
    async def load_facts(
        self, pupil_ids: Sequence[uuid.UUID], *, purpose: str, media_type: str
    ) -> dict[uuid.UUID, PupilFacts]:
        """What the rules need about these people for this purpose and media type."""
        ...

    async def store(self, record: CheckRecord) -> None:
        """Keep the check; it returns once the record is committed."""
        ...


class SessionCheckStore:
    """The check through the app's sessions: a session for each read, one for the record.

    A read's session is closed before the check waits for the replica to catch up (SQLite has one
    connection, which the catch-up needs). The sessionmaker is read from the app's state at each
    use, since the tests put theirs (rolled back) there after the app is made.
    """

    def __init__(self, state: State) -> None:
        self._state = state

    async def load_facts(
        self, pupil_ids: Sequence[uuid.UUID], *, purpose: str, media_type: str
    ) -> dict[uuid.UUID, PupilFacts]:
        sessionmaker: async_sessionmaker[AsyncSession] = self._state.sessionmaker
        async with sessionmaker() as session:
            return await check_service.load_facts(session, pupil_ids)

    async def store(self, record: CheckRecord) -> None:
        sessionmaker: async_sessionmaker[AsyncSession] = self._state.sessionmaker
        async with sessionmaker() as session:
            await check_service.store(session, record)
            await session.commit()
