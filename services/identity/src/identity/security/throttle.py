"""Throttling of password and client-secret guesses (NCSC, ASVS 6.3), shared by every identity replica.

A guess *reserves* an attempt on each of its keys before the secret is verified, in one atomic
step, and a success releases it: concurrent guesses cannot overtake the count, because each is
counted before it is checked. The keys a sign-in reserves (see `signin_guards`):

- `account:<username>`: at most `signin_max_failures` in the window, from anywhere;
- `pair:<address>:<username>`: the same limit per (address, account), so one address's guesses
  keep counting when the owner's success elsewhere clears the account's count;
- `source:<address>`: a flood guard only, sized so a whole LA's schools behind one proxy address
  sign in at 08:45 (docs/operations-gateway.md explains the sizing).

The attempt that would exceed a key's limit is refused unverified and starts a back-off: the first
lasts the window, each further one of the same key doubles, capped at `max_backoff`. Nothing
locks for good (that would let anyone lock out staff): the back-off ends, and a quiet spell as long
as window + cap forgets the key's strikes. Time comes from the injected clock; nothing sleeps.

Where the counters live: Redis when IDENTITY_REDIS_URL is set (one Lua script per step, atomic on
the server; one Redis, not a cluster, since a step touches several keys), else the database table
`signin_throttle`, whose rows are locked (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE`
serialises every writer) for the read-modify-write. A reservation commits the caller's session at
once, so other replicas see it before the verify.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.security.models import ThrottleCounter
from servicekit.clock import Clock
from servicekit.db import upsert

log = logging.getLogger("identity.throttle")


@dataclass(frozen=True)
class Guard:
    """One key a guess counts against, and how many attempts its window allows."""

    key: str
    max_attempts: int


@dataclass(frozen=True)
class Reservation:
    """`wait` seconds to wait (0: the attempt is reserved); `started_block` when this attempt
    started a back-off (audited once, not per refused request); `attempts` per key once reserved.
    """

    wait: int = 0
    started_block: bool = False
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.wait == 0


# KEYS: the keys; ARGV: now, window, cap (seconds), then each key's limit. A hash per key.
_RESERVE = """
local now, window, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rows, wait = {}, 0
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'start', 'attempts', 'strikes', 'blocked', 'last')
  local r = {tonumber(h[1]) or now, tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0,
             tonumber(h[5]) or now}
  if r[4] <= now then r[4] = 0 end
  if r[4] == 0 and now - r[5] > window + cap then r[1] = now; r[2] = 0; r[3] = 0 end
  if now - r[1] >= window then r[1] = now; r[2] = 0 end
  if r[4] > now then wait = math.max(wait, r[4] - now) end
  rows[i] = r
end
if wait > 0 then return {tostring(wait), 0} end
local ttl = math.ceil(2 * window + 2 * cap)
for i, key in ipairs(KEYS) do
  local r = rows[i]
  if r[2] + 1 > tonumber(ARGV[3 + i]) then
    local strikes = r[3] + 1
    local blocked = math.max(r[1] + window, now + math.min(cap, window * 2 ^ (strikes - 1)))
    redis.call('HSET', key, 'start', tostring(now), 'attempts', 0, 'strikes', strikes,
               'blocked', tostring(blocked), 'last', tostring(now))
    redis.call('EXPIRE', key, ttl)
    wait = math.max(wait, blocked - now)
  end
end
if wait > 0 then return {tostring(wait), 1} end
local out = {'0', 0}
for i, key in ipairs(KEYS) do
  local r = rows[i]
  redis.call('HSET', key, 'start', tostring(r[1]), 'attempts', r[2] + 1, 'strikes', r[3],
             'blocked', 0, 'last', tostring(now))
  redis.call('EXPIRE', key, ttl)
  out[#out + 1] = r[2] + 1
end
return out
"""
# KEYS: keys whose one attempt a success gives back.
_RELEASE = """
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('HGET', key, 'attempts') or '0')
  if n > 0 then redis.call('HINCRBY', key, 'attempts', -1) end
end
return 0
"""


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


class Throttle:
    def __init__(
        self,
        clock: Clock,
        *,
        window: timedelta = timedelta(minutes=5),
        max_backoff: timedelta = timedelta(minutes=15),
        redis_url: str = "",
        redis_prefix: str = "identity:throttle:",
    ) -> None:
        self.clock = clock
        self.window = window
        self.max_backoff = max_backoff
        self.prefix = redis_prefix
        self.redis: Redis | None = (
            Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else None
        )

    async def reserve(self, session: AsyncSession, guards: Sequence[Guard]) -> Reservation:
        """Count one attempt against every guard's key, or refuse them all (nothing counted)."""
        limits = {g.key: g.max_attempts for g in guards}
        if self.redis is not None:
            try:
                return await self._reserve_redis(limits)
            except (RedisError, OSError) as exc:
                # Falling back keeps the count shared (the database is), and never fails open.
                log.warning("throttle: Redis unavailable (%s); counting in the database", type(exc).__name__)
        return await self._reserve_db(session, limits)

    async def succeeded(self, session: AsyncSession, *, clear: Sequence[str], release: Sequence[str]) -> None:
        """A right secret: forget the `clear` keys, give back this attempt of the `release` keys."""
        if self.redis is not None:
            try:
                if clear:
                    await self.redis.delete(*(self.prefix + k for k in clear))
                if release:
                    await self.redis.eval(_RELEASE, len(release), *(self.prefix + k for k in release))
                return
            except (RedisError, OSError) as exc:
                log.warning("throttle: Redis unavailable (%s); releasing in the database", type(exc).__name__)
        if clear:
            await session.execute(delete(ThrottleCounter).where(ThrottleCounter.key.in_(clear)))
        if release:
            await session.execute(
                update(ThrottleCounter)
                .where(ThrottleCounter.key.in_(release), ThrottleCounter.attempts > 0)
                .values(attempts=ThrottleCounter.attempts - 1)
            )

    async def prune(self, session: AsyncSession) -> None:
        """Forget the database's quiet keys (Redis keys expire by themselves)."""
        now = self.clock.now()
        await session.execute(
            delete(ThrottleCounter).where(
                ThrottleCounter.last_attempt_at < now - self.window - self.max_backoff,
                (ThrottleCounter.blocked_until.is_(None)) | (ThrottleCounter.blocked_until <= now),
            )
        )

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def _reserve_redis(self, limits: dict[str, int]) -> Reservation:
        assert self.redis is not None
        keys = sorted(limits)
        now = self.clock.now().timestamp()
        args: list[str | float] = [repr(now), self.window.total_seconds(), self.max_backoff.total_seconds()]
        result = await self.redis.eval(
            _RESERVE, len(keys), *(self.prefix + k for k in keys), *args, *(limits[k] for k in keys)
        )
        wait = float(result[0])
        if wait > 0:
            return Reservation(wait=_seconds(timedelta(seconds=wait)), started_block=bool(int(result[1])))
        return Reservation(attempts={k: int(n) for k, n in zip(keys, result[2:], strict=True)})

    async def _reserve_db(self, session: AsyncSession, limits: dict[str, int]) -> Reservation:
        now = self.clock.now()
        keys = sorted(limits)
        fresh = [
            {"key": k, "window_started_at": now, "attempts": 0, "strikes": 0, "last_attempt_at": now}
            for k in keys
        ]
        await session.execute(
            upsert(session, ThrottleCounter).values(fresh).on_conflict_do_nothing(index_elements=["key"])
        )
        rows = list(
            await session.scalars(
                select(ThrottleCounter)
                .where(ThrottleCounter.key.in_(keys))
                .order_by(ThrottleCounter.key)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        for row in rows:
            self._settle(row, now)
        blocked = [row.blocked_until for row in rows if row.blocked_until is not None]
        if blocked:
            await session.commit()
            return Reservation(wait=_seconds(max(blocked) - now))
        over = [row for row in rows if row.attempts + 1 > limits[row.key]]
        for row in over:
            row.strikes += 1
            backoff = min(self.max_backoff, self.window * (2 ** (row.strikes - 1)))
            # Never sooner than the window allows: no more than the limit in any window.
            row.blocked_until = max(row.window_started_at + self.window, now + backoff)
            row.window_started_at, row.attempts, row.last_attempt_at = now, 0, now
        if over:
            until = max(row.blocked_until for row in over if row.blocked_until is not None)
            await session.commit()
            return Reservation(wait=_seconds(until - now), started_block=True)
        for row in rows:
            row.attempts += 1
            row.last_attempt_at = now
        attempts = {row.key: row.attempts for row in rows}
        await session.commit()
        return Reservation(attempts=attempts)

    def _settle(self, row: ThrottleCounter, now: datetime) -> None:
        """End a finished back-off, forget a quiet key's strikes, start a new window when due."""
        if row.blocked_until is not None and row.blocked_until <= now:
            row.blocked_until = None
        if row.blocked_until is None and now - row.last_attempt_at > self.window + self.max_backoff:
            row.strikes, row.attempts, row.window_started_at = 0, 0, now
        if now - row.window_started_at >= self.window:
            row.attempts, row.window_started_at = 0, now
