"""Per-client quotas on the platform's sensitive business flows (OWASP API6).

The general per-client rate limit protects the services; these quotas bound how fast one client
can harvest what the flows hand out: the LA incident export, and consent look-ups (the MLE's
checks, a pupil's consent). Each quota counts per client (OAuth client id, or a person's subject)
and per route prefix, in the rate limiter's windows (`rate_limit_window_seconds`), so replicas
sharing Redis share the count. `GATEWAY_CLIENT_QUOTAS` (a JSON list) replaces the defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Quota(BaseModel):
    """At most `limit` requests per window by one client to paths under `prefix`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(min_length=2, max_length=200, pattern=r"^/[^?#*]*$")
    limit: int = Field(gt=0)

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


DEFAULT_QUOTAS = [
    # An LA pulls incrementally, a page of up to 500 incidents a request: two pages a second is ample.
    Quota(prefix="/v1/incidents/export", limit=120),
    # The MLE checks before publishing; a whole class's photos a minute, not the whole roll.
    Quota(prefix="/v1/media-consent/checks", limit=300),
    Quota(prefix="/v1/media-consent/pupils", limit=300),
]


def quota_for(quotas: list[Quota], path: str) -> Quota | None:
    """The first quota that covers `path` (None: only the general per-client limit applies)."""
    return next((q for q in quotas if q.covers(path)), None)
