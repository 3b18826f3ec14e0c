"""A circuit breaker per upstream: a service that is down is answered for fast, not waited on.

Closed: requests go through; `failure_threshold` connection failures or timeouts in a row open it.
Open: no connection is attempted until `cooldown` has passed. Half-open: one probe request goes
through; its success closes the breaker, its failure opens it for another cool-down.

Every request let through holds an `Admission` and is used as a context manager around the whole
exchange: `success()` or `failure()` report what the service did, and leaving the block without
either (a body over the cap, a client gone or too slow, no free connection, any exception) settles
it as "told us nothing". So a half-open probe is settled exactly once on every path, by
construction, and the next request becomes the probe; before this, a probe that ended in a 413 or a
client gone mid-body was never settled and the service stayed 503 until the gateway restarted.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from types import TracebackType

from servicekit.clock import Clock


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Admission:
    """One request the breaker let through; `with admission:` around the exchange settles it.

    In the closed state every request shares the breaker's one admission (no allocation per
    request); a half-open probe gets its own, so a late answer to an older probe cannot settle a
    newer one.
    """

    __slots__ = ("breaker", "is_probe")

    def __init__(self, breaker: CircuitBreaker, *, is_probe: bool) -> None:
        self.breaker = breaker
        self.is_probe = is_probe

    def __enter__(self) -> Admission:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.is_probe:
            self.breaker._end_probe(self)

    def success(self) -> None:
        """The service answered."""
        self.breaker._success(self)

    def failure(self) -> None:
        """The service could not be reached, or did not answer in time."""
        self.breaker._failure(self)


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
        self._closed_pass = Admission(self, is_probe=False)
        self._probe: Admission | None = None

    @property
    def probing(self) -> bool:
        """Is a half-open probe in flight (so every other request is refused)?"""
        return self._probe is not None

    def admit(self) -> Admission | None:
        """An admission if a request may go to the upstream now, else None (answer 503).
        In half-open, only the one probe is admitted until it is settled."""
        if self.state is State.CLOSED:
            return self._closed_pass
        if self.state is State.OPEN:
            if self.clock.now().timestamp() - self._opened_at < self.cooldown:
                return None
            self.state = State.HALF_OPEN
            self._probe = None
        if self._probe is not None:
            return None
        self._probe = Admission(self, is_probe=True)
        return self._probe

    def retry_after(self) -> int:
        left = self.cooldown - (self.clock.now().timestamp() - self._opened_at)
        return max(1, int(left + 0.999))

    # --- settled by an Admission -----------------------------------------------------------------

    def _success(self, admission: Admission) -> None:
        if admission.is_probe and admission is not self._probe:
            return  # an older probe, already settled
        if self.state is not State.CLOSED and self.on_change is not None:
            self.on_change(0)
        self.state = State.CLOSED
        self.failures = 0
        self._probe = None

    def _failure(self, admission: Admission) -> None:
        if admission.is_probe and admission is not self._probe:
            return
        self.failures += 1
        if self.state is State.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = State.OPEN
            self._opened_at = self.clock.now().timestamp()
            self._probe = None
            if self.on_change is not None:
                self.on_change(1)

    def _end_probe(self, admission: Admission) -> None:
        """The probe's exchange is over; if it reported nothing, the next request probes."""
        if admission is self._probe:
            self._probe = None
