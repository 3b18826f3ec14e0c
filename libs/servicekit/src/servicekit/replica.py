"""The people replica: each service follows identity's change feed into its own small tables.

So a consent check or a phone return needs no call to identity and keeps working while identity
is down. The follower authenticates with client credentials (scope `identity:feed`), pulls
`GET /v1/identity/changes` until `has_more` is false, and stores each page's items together with
the cursor in one transaction: a restart resumes exactly where the last stored page ended.

Feed items: `{"seq": int, "kind": "school"|"person"|"carer_link"|"account", "id": uuid, "data": {...}}`
where `data` holds the columns of the matching Replica* table.

Read-your-writes (CONTRACT.md): a client that has just created a pupil, a carer link or a leaver in
identity may name them at once in another service, before the background follower has pulled.
So a lookup that would refuse (`confirmed` below: a person or link the replica lacks), or that
must not act on a stale replica (`fresh=True`: a leaver, an unlinked carer), first catches up:
`PeopleFollower.catch_up` waits for a pull begun after the miss to reach the end of the feed.
Catch-ups are single-flight (every request that misses meanwhile shares the next pull), bounded
in time and pages, and spaced by a minimum interval, so random ids cannot make a service hammer
identity. If identity is out of reach or the bound passes, a refusal becomes 503 with
`Retry-After` (`ReplicaUnavailable`), never a 4xx saying the person is unknown; what the replica
does know is used as it stands, so phone returns and consent checks go on while identity is down.

The feed head (`FeedHead`, where the platform has a Redis for it): identity stores the newest
number it has handed out in the people feed, before the transaction that holds it commits (and
refuses the write if it cannot). A catch-up first reads that number: when this process has
already applied the feed up to it, nothing identity has acknowledged can be missing, and there is
no pull to wait for. So a consent check costs one Redis read, not a feed request, while nobody
writes people; and identity down no longer matters to a replica that has everything identity
announced.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.clock import Clock, SystemClock
from servicekit.db import KitBase
from servicekit.errors import ServiceUnavailable
from servicekit.feeds import cursor_position
from servicekit.models import (
    FollowerState,
    ReplicaAccount,
    ReplicaCarerLink,
    ReplicaPerson,
    ReplicaSchool,
)

log = logging.getLogger("servicekit.replica")
T = TypeVar("T")

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


class FeedHeadUnavailable(ServiceUnavailable):
    slug = "feed-head-unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The change could not be announced to the other services, so it was not made; try again shortly.",
            headers={"Retry-After": "1"},
        )


# Raise the stored number, never lower it: a SET that arrives late (a timed-out connection's)
# cannot take the head back below a number handed out since.
_RAISE_HEAD = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class FeedHead:
    """The newest number identity has handed out in its people feed, kept in Redis.

    Identity calls `announce` after taking a number and before committing, and the write fails
    (`FeedHeadUnavailable`, rolled back) if Redis cannot take it; so every change identity has
    acknowledged is at or below the head. Followers `read` it: None when Redis cannot be read or
    has lost the key (restarted): then they pull, as without a head. After restoring identity's
    database to an earlier point, delete the key (docs/operations-replicas.md): until the feed
    passes the old head again, every catch-up pulls (slower, never wrong).
    """

    def __init__(self, url: str, key: str) -> None:
        self.key = key
        self.redis: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._raise = self.redis.register_script(_RAISE_HEAD)

    async def announce(self, seq: int) -> None:
        try:
            await self._raise(keys=[self.key], args=[seq])
        except (RedisError, OSError) as exc:
            log.warning("people feed head not announced: %s", type(exc).__name__)
            raise FeedHeadUnavailable() from exc

    async def read(self) -> int | None:
        try:
            value = await self.redis.get(self.key)
        except (RedisError, OSError) as exc:
            log.warning("people feed head not read: %s", type(exc).__name__)
            return None
        return int(value) if value is not None else None

    async def aclose(self) -> None:
        await self.redis.aclose()


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
        catch_up_seconds: float = 2.0,
        catch_up_max_pages: int = 10,
        catch_up_min_interval: float = 0.01,
        head: FeedHead | None = None,
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
        self.catch_up_seconds = catch_up_seconds
        self.catch_up_max_pages = catch_up_max_pages
        self.catch_up_min_interval = catch_up_min_interval
        self.head = head
        # One pull at a time in a process (the background loop, an operator's sync and catch-ups).
        self._lock = asyncio.Lock()
        # Monotonic times: when the newest pull that reached the end of the feed began, when the
        # latest pull began, and until when identity counts as out of reach after a failure.
        self._caught_up_from = -math.inf
        self._last_pull_at = -math.inf
        self._unreachable_until = -math.inf
        # The catch-up pull that waiting requests share, until it begins pulling.
        self._pending: asyncio.Task[None] | None = None
        # How many feed items this process has applied: a caller that read the replica before a
        # catch-up needs to read it again only if this moved.
        self.changes = 0
        self._http: httpx.AsyncClient | None = None
        self._cursor_value: str | None = None
        self._cursor_loaded = False

    def _client(self) -> httpx.AsyncClient:
        # One client for the process: a catch-up may pull many times a second, and a new client
        # (its TLS context, its connection) each time cost more than the pull itself.
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(base_url=self.identity_url, transport=self.transport, timeout=10.0)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

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
            applied, _ = await self._pull()
            return applied

    async def catch_up(self, within: float | None = None) -> bool:
        """Whether the replica has caught up with identity as it is now: a pull begun after this
        call reached the end of the feed `within` seconds (default `catch_up_seconds`).

        False, at once, while identity is out of reach (a pull failed lately) or when the next
        pull the minimum interval allows would begin after the deadline; always False for a
        follower without feed credentials (nothing to follow: development without identity).
        True at once, without a pull, when the feed head says this process has applied every
        number identity has handed out.
        """
        if not self.client_id:
            return False
        if self.head is not None:
            head = await self.head.read()
            if head is not None and head <= cursor_position(await self._cursor()):
                return True
        since = time.monotonic()
        deadline = since + (self.catch_up_seconds if within is None else within)
        while self._caught_up_from < since:
            now = time.monotonic()
            if now < self._unreachable_until or now >= deadline:
                return False
            pending = self._pending
            if pending is None:
                if self._last_pull_at + self.catch_up_min_interval > deadline:
                    return False
                pending = self._pending = asyncio.create_task(self._catch_up_pull())
            try:
                await asyncio.wait_for(asyncio.shield(pending), deadline - now)
            except TimeoutError:
                return False
        return True

    def retry_after(self) -> int:
        """Whole seconds after which a catch-up may succeed (for `Retry-After`)."""
        return max(1, math.ceil(self._unreachable_until - time.monotonic()))

    def _unreachable(self, now: float) -> None:
        self._unreachable_until = max(self._unreachable_until, now + max(1.0, self.catch_up_seconds))

    async def _catch_up_pull(self) -> None:
        try:
            delay = self._last_pull_at + self.catch_up_min_interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._lock:
                self._pending = None  # whoever misses from now on needs the next pull
                await self._pull(max_pages=self.catch_up_max_pages)
        except Exception as exc:  # noqa: BLE001 - the waiters see "not caught up"; _pull noted it
            log.warning("people feed catch-up failed: %s", type(exc).__name__)
        finally:
            if self._pending is asyncio.current_task():
                self._pending = None

    async def _pull(self, max_pages: int | None = None) -> tuple[int, bool]:
        """Pull pages (all of them, or at most `max_pages`): items applied, and whether the end
        of the feed was reached."""
        started = self._last_pull_at = time.monotonic()
        try:
            applied, complete = await self._pull_pages(max_pages)
        except Exception:
            self._unreachable(time.monotonic())
            raise
        if complete:
            self._caught_up_from = max(self._caught_up_from, started)
            self._unreachable_until = -math.inf
        return applied, complete

    async def _pull_pages(self, max_pages: int | None) -> tuple[int, bool]:
        applied = 0
        pages = 0
        client = self._client()
        while True:
            cursor = await self._cursor()
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
            if page["items"] or page["next_cursor"] != cursor:
                try:
                    await self._apply(page["items"], cursor, page["next_cursor"])
                except IntegrityError:
                    # Another replica of this service created the same rows first (SQLite, which
                    # has no advisory lock): apply the page again over what is there now.
                    await self._apply(page["items"], cursor, page["next_cursor"])
            # (Nothing new: nothing to write, so a catch-up that finds nothing is one request.)
            applied += len(page["items"])
            self.changes += len(page["items"])
            pages += 1
            if not page["has_more"]:
                return applied, True
            if max_pages is not None and pages >= max_pages:
                return applied, False

    async def _cursor(self) -> str | None:
        """Where this process is in the feed: read from the database once, then kept in memory, so
        a pull that finds nothing new touches no table. (Another replica of the service may be
        further on: `_apply` then stores nothing, and this process reads on to the end.)"""
        if not self._cursor_loaded:
            async with self.sessionmaker() as session:
                state = await session.get(FollowerState, FOLLOWER_NAME)
                self._cursor_value = state.cursor if state else None
            self._cursor_loaded = True
        return self._cursor_value

    async def _apply(self, items: list[dict[str, Any]], cursor: str | None, next_cursor: str) -> None:
        """Store a page read from `cursor` (with the cursor after it), unless another replica of
        this service has stored a later position meanwhile: then its rows are newer than this
        page's, which is not written (the page's items may be older states of the same records).

        Replicas of a service share one database, so on PostgreSQL the check and the write run
        under a transaction-scoped advisory lock: followers of every replica may pull at once,
        and the stored feed position only moves forward. Either way this process's "not before"
        index learns the page's accounts: every replica pulls every interval, so a revocation
        reaches each of them within one follow interval, whoever stored it.
        """
        accounts: list[tuple[str, datetime | None]] = []
        for item in items:
            if item["kind"] == "account":
                values = _convert(ReplicaAccount, {**item["data"], "id": item["id"]})
                accounts.append((str(values["id"]), values.get("not_before")))
        async with self.sessionmaker() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                    {"name": f"servicekit.follower:{FOLLOWER_NAME}"},
                )
            state = await session.get(FollowerState, FOLLOWER_NAME)
            stored = cursor_position(state.cursor) if state is not None and state.cursor else 0
            # Another replica further on: its rows stand. This process walks on from the page's
            # end (not from the stored position), so its index still sees every account change.
            if stored <= cursor_position(cursor):
                for item in items:
                    model = MODELS.get(item["kind"])
                    if model is None:
                        continue
                    await session.merge(model(**_convert(model, {**item["data"], "id": item["id"]})))
                if state is None:
                    session.add(
                        FollowerState(name=FOLLOWER_NAME, cursor=next_cursor, synced_at=self.clock.now())
                    )
                else:
                    state.cursor = next_cursor
                    state.synced_at = self.clock.now()
        self._cursor_value, self._cursor_loaded = next_cursor, True
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


class ReplicaUnavailable(ServiceUnavailable):
    slug = "replica-unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Identity could not be reached to confirm the people named; try again shortly.",
            headers={"Retry-After": str(retry_after)},
        )


FOLLOWER_KEY = "servicekit.people_follower"
FEED_HEAD_KEY = "servicekit.people_feed_head"
CAUGHT_UP_KEY = "servicekit.replica_caught_up"
REPLICA_MODELS = (ReplicaPerson, ReplicaCarerLink, ReplicaSchool, ReplicaAccount)


def caught_up(session: AsyncSession) -> bool:
    """Whether `confirmed` caught up (and so committed the request's reads) in this session."""
    return bool(session.info.get(CAUGHT_UP_KEY))


def _found(value: object) -> bool:
    return value is not None


async def confirmed(
    session: AsyncSession,
    find: Callable[[], Awaitable[T]],
    *,
    accept: Callable[[T], bool] = _found,
    fresh: bool = False,
) -> T:
    """`find()` on the people replica, read-your-writes: what the caller may decide on.

    An accepted answer is returned as it is, unless `fresh` (a leaver or an unlinked carer must be
    seen at once). Otherwise the replica catches up with identity first (once per request) and
    `find()` runs again. If it cannot catch up, an accepted answer stands (identity is down: the
    replica's word) and a refused one is `ReplicaUnavailable`, never the caller's "not known".

    Call it before the request writes: the request's transaction is committed (it has only read)
    so that its connection is free for the catch-up (SQLite has one) and the next read sees it.
    Sessions without a follower, or one without feed credentials (identity itself, in-process
    tests, a service run alone), get `find()` as it is.

    With `fresh`, `find()` runs once, after the catch-up: a read before it would be thrown away
    (a statement per phone registration, measured in docs/benchmarks.md).
    """
    follower: PeopleFollower | None = session.info.get(FOLLOWER_KEY)
    if follower is None or not follower.client_id or session.info.get(CAUGHT_UP_KEY):
        # Nothing to catch up from (the replica is all there is), or caught up in this request.
        return await find()
    if not fresh:
        value = await find()
        if accept(value):
            return value
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("confirmed() is called before the request writes")
    await session.commit()
    caught_up = await follower.catch_up()
    if caught_up:
        session.info[CAUGHT_UP_KEY] = True
        # What the session holds of the replica is older than the catch-up: read it again.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, REPLICA_MODELS):
                session.expunge(obj)
    value = await find()
    if caught_up or accept(value):
        return value
    raise ReplicaUnavailable(follower.retry_after())
