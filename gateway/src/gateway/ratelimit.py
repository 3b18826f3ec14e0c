"""Rate limits: fixed-window counters per key, in memory or in Redis (shared by every replica).

A window is `window_seconds` long and aligned to the epoch, so replicas sharing Redis count into
the same key. Memory counters read an injectable clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from servicekit.clock import Clock, SystemClock

log = logging.getLogger("gateway.ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int) -> Decision: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counters in this process (one replica, development, tests)."""

    MAX_KEYS = 100_000

    def __init__(self, window_seconds: int, *, clock: Clock | None = None) -> None:
        self.window = window_seconds
        self.clock = clock or SystemClock()
        self._counts: dict[str, int] = {}
        self._current_window = -1

    async def hit(self, key: str, limit: int) -> Decision:
        now = self.clock.now().timestamp()
        window = int(now // self.window)
        if window != self._current_window:
            # A new window: every counter starts again, so the table never outgrows one window.
            self._counts.clear()
            self._current_window = window
        count = self._counts.get(key, 0) + 1
        if len(self._counts) < self.MAX_KEYS or key in self._counts:
            self._counts[key] = count
        if count > limit:
            return Decision(False, _retry_after(now, window, self.window))
        return Decision(True)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counters in Redis: INCR on the window's key, which expires with the window.

    If Redis cannot be reached the request is let through (and logged): the limiter protects the
    services, and must not turn a Redis outage into a platform outage.
    """

    def __init__(
        self, url: str, window_seconds: int, *, prefix: str = "gateway:rl:", clock: Clock | None = None
    ) -> None:
        self.window = window_seconds
        self.prefix = prefix
        self.clock = clock or SystemClock()
        self.redis: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def hit(self, key: str, limit: int) -> Decision:
        now = self.clock.now().timestamp()
        window = int(now // self.window)
        name = f"{self.prefix}{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(name)
                pipe.expire(name, self.window + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning(
                "rate limiter: Redis unavailable (%s); letting the request through", type(exc).__name__
            )
            return Decision(True)
        if int(count) > limit:
            return Decision(False, _retry_after(now, window, self.window))
        return Decision(True)

    async def close(self) -> None:
        await self.redis.aclose()


def _retry_after(now: float, window: int, length: int) -> int:
    return max(1, math.ceil((window + 1) * length - now))
