"""A circuit breaker per upstream: a service that is down is answered for fast, not waited on.

Closed: requests go through; `failure_threshold` connection failures or timeouts in a row open it.
Open: no connection is attempted until `cooldown` has passed. Half-open: one probe request goes
through; its success closes the breaker, its failure opens it for another cool-down.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from servicekit.clock import Clock


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        cooldown: float,
        clock: Clock,
        on_change: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self.on_change = on_change
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.clock = clock
        self.state = State.CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """May a request go to the upstream now? (In half-open, only the one probe may.)"""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            if self.clock.now().timestamp() - self._opened_at < self.cooldown:
                return False
            self.state = State.HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def retry_after(self) -> int:
        left = self.cooldown - (self.clock.now().timestamp() - self._opened_at)
        return max(1, int(left + 0.999))

    def record_success(self) -> None:
        if self.state is not State.CLOSED and self.on_change is not None:
            self.on_change(0)
        self.state = State.CLOSED
        self.failures = 0
        self._probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.state is State.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = State.OPEN
            self._opened_at = self.clock.now().timestamp()
            self._probing = False
            if self.on_change is not None:
                self.on_change(1)

    def release_probe(self) -> None:
        """A half-open probe ended without telling us anything (e.g. the client went away)."""
        self._probing = False
