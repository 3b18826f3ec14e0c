"""Server-side sessions: the browser holds only a random id in an HttpOnly cookie.

SECURITY.md "Browser sessions": ids rotate at sign-in; a session ends after 10 minutes idle or 12
hours in all, measured by the injected clock. Tokens live here, never in the browser.

Two stores behind one interface (`SessionStore`):

- `MemoryStore`, the embedded default: one console process (the run command's).
- `RedisStore` (CONSOLE_REDIS_URL), shared by every console replica, so a person signed in through
  one is signed in through all, a restart keeps them signed in, and signing out ends the session
  everywhere. Each session is a key named by a SHA-256 of its id (whoever reads Redis learns no
  cookie), holding the session as JSON sealed with AES-256-GCM under the operator's key
  (CONSOLE_SESSION_KEY): a value changed in Redis, or written under another key, or sealed with
  another key, is refused. Its tokens are a second key beside it (`<hash>:tokens`), written only
  at sign-in and by a refresh, which one request at a time makes (`refreshing`). The keys expire
  after the idle timeout (the server's own clean-up); the timeouts themselves are still judged by
  the injected clock when a session is read.

A request reads its session once and writes it back once, when the page is done (`save`, from the
app's middleware); a session another replica ended meanwhile is not brought back (`SET ... XX`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import math
import os
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from servicekit.clock import Clock
from servicekit.pages import new_csrf_token

COOKIE = "console_session"
log = logging.getLogger("console.sessions")
# A token refresh (one call to identity) is over well within this; a holder that died frees it then.
LOCK_FOR = timedelta(seconds=10)
LOCK_WAIT = timedelta(seconds=12)
# KEYS[1]: the lock; ARGV[1]: its holder's value. Only the holder deletes it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds() * 1000)


@dataclass
class Session:
    id: str
    created_at: datetime
    last_seen: datetime
    csrf: str = field(default_factory=new_csrf_token)
    # Signed in: the person's tokens and who they are (from the token's claims and identity).
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    person: dict[str, Any] = field(default_factory=dict)
    # Between the sign-in redirect and the callback: state, nonce, PKCE verifier, where to go next.
    pending: dict[str, str] = field(default_factory=dict)
    # A one-time message for the next page (a confirmation).
    flash: dict[str, Any] | None = None
    # The header's count of unread staff alerts (console.alert_feed), and when it was counted.
    alerts_unread: int | None = None
    alerts_counted_at: datetime | None = None
    # The office's roll upload between its dry run and Apply (console.roll): the file as sent.
    roll_upload: dict[str, Any] | None = None

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None


_TIMES = ("created_at", "last_seen", "expires_at", "alerts_counted_at")
# Kept apart from the rest in Redis: written at sign-in and by a refresh only, never by a page's
# save, so a page that started before another page's refresh cannot put the spent tokens back.
TOKENS = ("access_token", "refresh_token", "expires_at")


def to_json(session: Session, fields: Collection[str] | None = None) -> bytes:
    """The session (or only `fields` of it) as JSON."""
    data = dataclasses.asdict(session)
    if fields is not None:
        data = {k: v for k, v in data.items() if k in fields}
    for name in _TIMES:
        if data.get(name) is not None:
            data[name] = data[name].isoformat()
    return json.dumps(data, separators=(",", ":")).encode()


def from_json(raw: bytes) -> Session:
    return from_dict(json.loads(raw))


def from_dict(data: dict[str, Any]) -> Session:
    data = dict(data)
    for name in _TIMES:
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    return Session(**data)


def decode_key(value: str) -> bytes:
    """CONSOLE_SESSION_KEY: 32 random bytes, base64 (url-safe or standard, padding optional)."""
    text = value.strip()
    try:
        key = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise ValueError("CONSOLE_SESSION_KEY must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ValueError("CONSOLE_SESSION_KEY must be base64 of 32 random bytes (AES-256)")
    return key


def new_key() -> str:
    """A fresh CONSOLE_SESSION_KEY (docs/console.md, "Running several consoles")."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


class SessionStore(Protocol):
    """Where sessions live. Every method may wait (Redis); none raises for an unknown id."""

    async def new(self) -> Session:
        """A new anonymous session, stored."""
        ...

    async def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle clock restarted); None when there is none or it ended."""
        ...

    async def save(self, session: Session) -> None:
        """What the request changed, kept (a session ended meanwhile stays ended)."""
        ...

    async def rotate(self, session: Session) -> Session:
        """Sign-in: the same contents under a new id (a fixed id planted before sign-in is useless)."""
        ...

    async def end(self, session: Session) -> None: ...

    def refreshing(self, session: Session) -> AbstractAsyncContextManager[None]:
        """Held while this session's tokens are refreshed, by one request at a time on any console;
        on entry `session` holds the tokens another request refreshed meanwhile."""
        ...

    async def ping(self) -> bool:
        """The store can be used now (the console's /readyz)."""
        ...

    async def close(self) -> None: ...


class _Timeouts:
    def __init__(self, clock: Clock, *, idle: timedelta, absolute: timedelta) -> None:
        self.clock = clock
        self.idle = idle
        self.absolute = absolute

    def ended(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen > self.idle or now - session.created_at > self.absolute

    def fresh(self) -> Session:
        now = self.clock.now()
        return Session(id=secrets.token_urlsafe(32), created_at=now, last_seen=now)

    def renew(self, session: Session) -> None:
        now = self.clock.now()
        session.id = secrets.token_urlsafe(32)
        session.csrf = new_csrf_token()
        session.created_at = now
        session.last_seen = now


class MemoryStore(_Timeouts):
    """In memory, per console process: the embedded default (one console)."""

    def __init__(self, clock: Clock, *, idle: timedelta, absolute: timedelta) -> None:
        super().__init__(clock, idle=idle, absolute=absolute)
        self._sessions: dict[str, Session] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def new(self) -> Session:
        session = self.fresh()
        self._sessions[session.id] = session
        self._sweep(session.created_at)
        return session

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock.now()
        if self.ended(session, now):
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    async def save(self, session: Session) -> None:
        """Nothing to write: the request changed the stored object itself."""

    async def rotate(self, session: Session) -> Session:
        self._sessions.pop(session.id, None)
        self.renew(session)
        self._sessions[session.id] = session
        return session

    async def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    @asynccontextmanager
    async def refreshing(self, session: Session) -> AsyncIterator[None]:
        # Every request of the session holds the same object: the refreshed tokens are already in it.
        lock = self._locks.get(session.id)
        if lock is None:
            lock = self._locks[session.id] = asyncio.Lock()
        async with lock:
            yield

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Nothing to let go of (the sessions end with the process)."""

    def _sweep(self, now: datetime) -> None:
        if len(self._sessions) % 256:
            return
        for sid, s in list(self._sessions.items()):
            if self.ended(s, now):
                del self._sessions[sid]


class RedisStore(_Timeouts):
    """In Redis, shared by every console replica; sealed with AES-256-GCM (see the module's docstring).

    Per session, under a hash of its id: `<hash>` the session but its tokens (what a page's save
    writes), `<hash>:tokens` its tokens (written at sign-in and by a refresh, under the lock
    `<hash>:refresh`).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        idle: timedelta,
        absolute: timedelta,
        redis: Redis,
        key: bytes,
        prefix: str = "console:session:",
    ) -> None:
        super().__init__(clock, idle=idle, absolute=absolute)
        self.redis = redis
        self.aead = AESGCM(key)
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, clock: Clock, **options: Any) -> RedisStore:
        return cls(clock, redis=Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), **options)

    def name(self, session_id: str) -> str:
        """The Redis key of a session: a hash of its id, never the id (the cookie's value) itself."""
        return self.prefix + hashlib.sha256(session_id.encode()).hexdigest()

    def _names(self, session_id: str) -> tuple[str, str, str]:
        name = self.name(session_id)
        return name, name + ":tokens", name + ":refresh"

    def seal(self, session: Session, *, tokens: bool = False) -> bytes:
        """The session but its tokens (or, `tokens`, its tokens only), sealed for its own key."""
        name, tokens_name, _ = self._names(session.id)
        fields = TOKENS if tokens else [f.name for f in dataclasses.fields(Session) if f.name not in TOKENS]
        nonce = os.urandom(12)
        # The key's name is the associated data: a value moved to another key fails to open.
        aad = (tokens_name if tokens else name).encode()
        return nonce + self.aead.encrypt(nonce, to_json(session, fields), aad)

    def unseal(self, name: str, value: bytes | str) -> dict[str, Any] | None:
        raw = value if isinstance(value, bytes) else value.encode()
        try:
            data = json.loads(self.aead.decrypt(raw[:12], raw[12:], name.encode()))
        except (InvalidTag, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def _read(self, session_id: str) -> Session | Literal[False] | None:
        """The stored session (None: there is none; False: what is stored does not verify)."""
        name, tokens_name, _ = self._names(session_id)
        value, tokens = await self.redis.mget(name, tokens_name)
        if value is None:
            return None
        data = self.unseal(name, value)
        extra = self.unseal(tokens_name, tokens) if tokens is not None else {}
        if data is None or extra is None or set(data) & set(TOKENS) or set(extra) - set(TOKENS):
            return False
        try:
            session = from_dict(data | extra)
        except (TypeError, ValueError):
            return False
        if not secrets.compare_digest(session.id, session_id):
            return False
        return session

    def _ttl_ms(self, session: Session) -> int:
        """Until the session would end by the idle or the absolute timeout, whichever is sooner."""
        now = self.clock.now()
        left = min(session.last_seen + self.idle, session.created_at + self.absolute) - now
        return max(1000, math.ceil(left.total_seconds() * 1000))

    async def new(self) -> Session:
        session = self.fresh()
        await self.redis.set(self.name(session.id), self.seal(session), px=self._ttl_ms(session), nx=True)
        return session

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        session = await self._read(session_id)
        if session is False:
            # Not what this console sealed for this id: refused, and removed.
            log.warning("console session: a stored value did not verify; refused")
            await self.redis.delete(*self._names(session_id))
            return None
        if session is None:
            return None
        now = self.clock.now()
        if self.ended(session, now):
            await self.redis.delete(*self._names(session_id))
            return None
        session.last_seen = now
        return session

    async def save(self, session: Session) -> None:
        """The session but its tokens (see `refreshing`), its expiry moved on; not if it ended."""
        name, tokens_name, _ = self._names(session.id)
        if self.ended(session, self.clock.now()):
            await self.redis.delete(name, tokens_name)
            return
        ttl = self._ttl_ms(session)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(name, self.seal(session), px=ttl, xx=True)
            pipe.pexpire(tokens_name, ttl)
            await pipe.execute()

    async def rotate(self, session: Session) -> Session:
        old = self._names(session.id)
        self.renew(session)
        name, tokens_name, _ = self._names(session.id)
        ttl = self._ttl_ms(session)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*old)
            pipe.set(name, self.seal(session), px=ttl, nx=True)
            if session.access_token is not None:
                pipe.set(tokens_name, self.seal(session, tokens=True), px=ttl)
            await pipe.execute()
        return session

    async def end(self, session: Session) -> None:
        await self.redis.delete(*self._names(session.id))

    @asynccontextmanager
    async def refreshing(self, session: Session) -> AsyncIterator[None]:
        """A lock in Redis (`<hash>:refresh`, expiring after LOCK_FOR if its holder dies), waited for
        at most LOCK_WAIT; on entry the stored tokens, if another request refreshed them; on a
        normal exit the tokens written, if this request refreshed them."""
        _, tokens_name, lock = self._names(session.id)
        mine = secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_WAIT.total_seconds()
        while not (held := bool(await self.redis.set(lock, mine, nx=True, px=_ms(LOCK_FOR)))):
            if time.monotonic() > deadline:
                break  # the holder is gone, or stuck: refresh anyway (at worst, a sign-in again)
            await asyncio.sleep(0.05)
        try:
            stored = await self._read(session.id)
            if stored and stored.refresh_token != session.refresh_token:
                for field_name in TOKENS:
                    setattr(session, field_name, getattr(stored, field_name))
            before = session.refresh_token
            yield
            if session.access_token is not None and session.refresh_token != before:
                ttl = self._ttl_ms(session)
                await self.redis.set(tokens_name, self.seal(session, tokens=True), px=ttl, xx=True)
        finally:
            if held:
                await self.redis.eval(_RELEASE, 1, lock, mine)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False

    async def close(self) -> None:
        await self.redis.aclose()
