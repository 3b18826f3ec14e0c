"""How many pixels this worker decodes at once, across every scan in flight.

A decoded image holds about four bytes a pixel whatever its file size, so the per-image limit alone
lets many concurrent scans exhaust memory. Each scan that decodes holds its cost here while it runs;
one that finds the budget spent waits its turn (first come, first served) for a bounded time, then
gives up, and the route answers 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class BudgetSpent(Exception):
    """The pixels asked for did not come free within the wait."""


class DecodeBudget:
    """A semaphore counted in pixels, granted in the order asked."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        """Scans waiting for their share."""
        return len(self._waiting)

    @asynccontextmanager
    async def hold(self, pixels: int, *, wait: float) -> AsyncIterator[None]:
        """Hold `pixels` of the budget for the block; BudgetSpent if they are not free within `wait` s."""
        if pixels <= 0:  # nothing is decoded: nothing to wait for
            yield
            return
        if pixels > self.capacity:
            raise BudgetSpent(f"{pixels} pixels is more than the whole budget of {self.capacity}")
        await self._acquire(pixels, wait)
        try:
            yield
        finally:
            self._release(pixels)

    async def _acquire(self, pixels: int, wait: float) -> None:
        if not self._waiting and self.in_use + pixels <= self.capacity:
            self.in_use += pixels
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pixels, granted)
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(wait):
                await granted
        except BaseException as exc:
            # Timed out or cancelled (the client left). Granted in the same instant: give it back.
            if granted.done() and not granted.cancelled():
                self._release(pixels)
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._grant()
            if isinstance(exc, TimeoutError):
                raise BudgetSpent(f"{pixels} pixels did not come free within {wait} s") from exc
            raise

    def _release(self, pixels: int) -> None:
        self.in_use -= pixels
        self._grant()

    def _grant(self) -> None:
        while self._waiting:
            pixels, granted = self._waiting[0]
            if not granted.done() and self.in_use + pixels > self.capacity:
                return
            self._waiting.popleft()
            if granted.done():  # cancelled, its task not resumed yet: it takes nothing
                continue
            self.in_use += pixels
            granted.set_result(None)
