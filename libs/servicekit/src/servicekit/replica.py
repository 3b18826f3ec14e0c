"""The people replica: each service follows identity's change feed into its own small tables.

So a consent check or a phone return needs no call to identity and keeps working while identity
is down. The follower authenticates with client credentials (scope `identity:feed`), pulls
`GET /v1/identity/changes` until `has_more` is false, and stores each page's items together with
the cursor in one transaction: a restart resumes exactly where the last stored page ended.

Feed items: `{"seq": int, "kind": "school"|"person"|"carer_link"|"account", "id": uuid, "data": {...}}`
where `data` holds the columns of the matching Replica* table.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.clock import Clock, SystemClock
from servicekit.db import KitBase
from servicekit.models import (
    FollowerState,
    ReplicaAccount,
    ReplicaCarerLink,
    ReplicaPerson,
    ReplicaSchool,
)

log = logging.getLogger("servicekit.replica")

FEED_PATH = "/v1/identity/changes"
FOLLOWER_NAME = "identity-people"
MODELS: dict[str, type[KitBase]] = {
    "school": ReplicaSchool,
    "person": ReplicaPerson,
    "carer_link": ReplicaCarerLink,
    "account": ReplicaAccount,
}


class NotBeforeIndex:
    """Account id -> "not before", kept in memory for the token verifier, filled by the follower."""

    def __init__(self) -> None:
        self._values: dict[str, datetime] = {}

    def __call__(self, subject: str) -> datetime | None:
        return self._values.get(subject)

    def set(self, subject: str, value: datetime | None) -> None:
        if value is None:
            self._values.pop(subject, None)
        else:
            self._values[subject] = value

    async def load(self, session: AsyncSession) -> None:
        rows = await session.execute(select(ReplicaAccount.id, ReplicaAccount.not_before))
        for account_id, not_before in rows:
            self.set(str(account_id), not_before)


def _convert(model: type[KitBase], data: dict[str, Any]) -> dict[str, Any]:
    columns = model.__table__.columns
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in columns:
            continue
        kind = columns[name].type.python_type
        if value is not None and kind is uuid.UUID:
            value = uuid.UUID(str(value))
        elif value is not None and kind is datetime:
            value = datetime.fromisoformat(str(value))
        elif value is not None and kind is date:
            value = date.fromisoformat(str(value))
        values[name] = value
    return values


class PeopleFollower:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        identity_url: str,
        client_id: str,
        client_secret: str,
        interval: float = 5.0,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        not_before: NotBeforeIndex | None = None,
        page_size: int = 500,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.identity_url = identity_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.interval = interval
        self.clock = clock or SystemClock()
        self.transport = transport
        self.not_before = not_before
        self.page_size = page_size
        self._token: str | None = None
        self._token_expires: datetime | None = None
        # One pull at a time in a process (the background loop and an operator's sync may meet).
        self._lock = asyncio.Lock()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.identity_url, transport=self.transport, timeout=10.0)

    async def _access_token(self, client: httpx.AsyncClient) -> str:
        now = self.clock.now()
        if self._token and self._token_expires and now < self._token_expires:
            return self._token
        response = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "identity:feed"},
            auth=(self.client_id, self.client_secret),
        )
        response.raise_for_status()
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires = now + timedelta(seconds=max(0, int(body["expires_in"]) - 30))
        return self._token

    async def sync_once(self) -> int:
        """Pull until identity says there is no more; return how many items were applied."""
        async with self._lock:
            return await self._pull()

    async def _pull(self) -> int:
        applied = 0
        async with self._client() as client:
            while True:
                async with self.sessionmaker() as session:
                    state = await session.get(FollowerState, FOLLOWER_NAME)
                    cursor = state.cursor if state else None
                token = await self._access_token(client)
                params: dict[str, Any] = {"limit": self.page_size}
                if cursor:
                    params["cursor"] = cursor
                response = await client.get(
                    FEED_PATH, params=params, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code == 401:
                    self._token = None
                response.raise_for_status()
                page = response.json()
                try:
                    await self._apply(page["items"], page["next_cursor"])
                except IntegrityError:
                    # Another replica of this service stored the same page first: apply it again
                    # over what is there now (merge updates existing rows).
                    await self._apply(page["items"], page["next_cursor"])
                applied += len(page["items"])
                if not page["has_more"]:
                    return applied

    async def _apply(self, items: list[dict[str, Any]], next_cursor: str) -> None:
        accounts: list[tuple[str, datetime | None]] = []
        async with self.sessionmaker() as session, session.begin():
            for item in items:
                model = MODELS.get(item["kind"])
                if model is None:
                    continue
                values = _convert(model, {**item["data"], "id": item["id"]})
                await session.merge(model(**values))
                if model is ReplicaAccount:
                    accounts.append((str(values["id"]), values.get("not_before")))
            state = await session.get(FollowerState, FOLLOWER_NAME)
            if state is None:
                session.add(FollowerState(name=FOLLOWER_NAME, cursor=next_cursor, synced_at=self.clock.now()))
            else:
                state.cursor = next_cursor
                state.synced_at = self.clock.now()
        if self.not_before is not None:
            for subject, value in accounts:
                self.not_before.set(subject, value)

    async def run_forever(self, on_error: Callable[[Exception], None] | None = None) -> None:
        """Follow the feed every `interval` seconds until cancelled; errors are logged and retried."""
        while True:
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - identity may be down; keep serving, retry later
                log.warning("people feed sync failed: %s", type(exc).__name__)
                if on_error is not None:
                    on_error(exc)
            await asyncio.sleep(self.interval)
