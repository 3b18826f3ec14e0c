"""Throttling of failed sign-ins, per account and per source address (NCSC, ASVS 6.3).

At most `max_failures` failed guesses in `window`; the next guess waits until the window has
passed, and each further lock-out of the same key doubles the wait, capped at `max_backoff`.
Nothing locks an account for good (that would let anyone lock out staff): a success, or a quiet
spell as long as the cap, clears the record. Time comes from the injected clock.

State is kept in memory, per process. A deployment that runs identity as several replicas puts it
in Redis (see ARCHITECTURE.md); until then each replica throttles on its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from servicekit.clock import Clock


@dataclass
class _Record:
    failures: deque[datetime] = field(default_factory=deque)
    blocked_until: datetime | None = None
    strikes: int = 0
    last_failure: datetime | None = None


class Throttle:
    MAX_KEYS = 100_000

    def __init__(
        self,
        clock: Clock,
        *,
        max_failures: int = 10,
        window: timedelta = timedelta(minutes=5),
        max_backoff: timedelta = timedelta(minutes=15),
    ) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.max_backoff = max_backoff
        self._records: dict[str, _Record] = {}

    def _fresh(self, key: str, now: datetime) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        quiet = record.last_failure is not None and now - record.last_failure > self.max_backoff + self.window
        if quiet and (record.blocked_until is None or record.blocked_until <= now):
            del self._records[key]
            return None
        while record.failures and now - record.failures[0] >= self.window:
            record.failures.popleft()
        return record

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may guess again (0 when it may now)."""
        now = self.clock.now()
        record = self._fresh(key, now)
        if record is None or record.blocked_until is None or record.blocked_until <= now:
            return 0
        return max(1, int((record.blocked_until - now).total_seconds() + 0.999))

    def failed(self, key: str) -> None:
        now = self.clock.now()
        record = self._fresh(key, now)
        if record is None:
            if len(self._records) >= self.MAX_KEYS:
                self._prune(now)
            record = self._records.setdefault(key, _Record())
        record.failures.append(now)
        record.last_failure = now
        if len(record.failures) >= self.max_failures:
            record.strikes += 1
            backoff = min(self.max_backoff, self.window * (2 ** (record.strikes - 1)))
            # Never sooner than the window allows: no more than max_failures in any window.
            record.blocked_until = max(record.failures[0] + self.window, now + backoff)
            record.failures.clear()

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _prune(self, now: datetime) -> None:
        for key in list(self._records):
            self._fresh(key, now)
        while len(self._records) >= self.MAX_KEYS:
            del self._records[next(iter(self._records))]
