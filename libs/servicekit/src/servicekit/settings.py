"""Settings shared by every service: environment, database, tokens, limits.

Each service subclasses `ServiceSettings` with its own env prefix (`IDENTITY_`, `DEVICES_`, ...).
Platform-wide values (issuer, audience, JWKS address, environment, trusted proxies, metrics
scrapers, the public base URL) are read as `PLATFORM_<NAME>`, whatever the prefix.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.networks import LOOPBACK, Networks

DEVELOPMENT_SECRET_PREFIX = "dev-only-"


def platform_field(name: str, default: object) -> object:
    """A field read from `PLATFORM_<NAME>` (shared by every service), whatever the prefix."""
    return Field(default=default, validation_alias=AliasChoices(f"PLATFORM_{name}", name))


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("ENVIRONMENT", "PLATFORM_ENVIRONMENT")
    )
    service_name: str = "service"
    database_url: str = ""
    database_pool_size: int = 10
    issuer: str = platform_field("ISSUER", "http://127.0.0.1:8000")  # type: ignore[assignment]
    audience: str = platform_field("AUDIENCE", "esafety-platform")  # type: ignore[assignment]
    jwks_url: str = platform_field(  # type: ignore[assignment]
        "JWKS_URL", "http://127.0.0.1:8001/.well-known/jwks.json"
    )
    identity_url: str = platform_field("IDENTITY_URL", "http://127.0.0.1:8001")  # type: ignore[assignment]
    # The address clients use: the gateway's public base URL. Every absolute URL a service puts in
    # a response (Link, Location) starts with it, never with the service's own address. Unset: the
    # issuer, which is the gateway's URL (http://127.0.0.1:8000 in development).
    public_base_url: str = platform_field("PUBLIC_BASE_URL", "")  # type: ignore[assignment]
    # Peers whose X-Forwarded-For is believed (servicekit.networks): the gateway, for a service;
    # a load balancer in front, for the gateway. Comma-separated CIDRs; loopback by default.
    trusted_proxies: Networks = platform_field("TRUSTED_PROXIES", LOOPBACK)  # type: ignore[assignment]
    # Who may read /metrics (others get 404): comma-separated CIDRs, loopback by default.
    metrics_scrapers: Networks = platform_field("METRICS_SCRAPERS", LOOPBACK)  # type: ignore[assignment]
    # The gateway's Swagger UI at /docs (GATEWAY_DOCS_ENABLED). None: on, except in production. A
    # service has no /docs of its own (servicekit.app); its /openapi.json is always served: the
    # gateway merges it into the platform's document, and no service is published but the gateway.
    docs_enabled: bool | None = None
    max_body_bytes: int = 1_048_576
    # How long an Idempotency-Key's first response is replayed (servicekit.idempotency); after it
    # the record may be deleted by the annual housekeeping (`manage.py retention`).
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 366)
    log_level: str = "INFO"
    cors_origins: list[str] = []
    # The client credentials a service uses to follow identity's people feed.
    feed_client_id: str = ""
    feed_client_secret: SecretStr = SecretStr("")
    follow_interval_seconds: float = 5.0
    # Read-your-writes (servicekit.replica): a miss catches up from identity's feed, waiting at
    # most this long (else 503 with Retry-After), pulling at most this many pages, and starting
    # pulls no closer together than the minimum interval (random ids cannot flood identity: at
    # most 100 pulls a second per process, each one feed read when there is nothing new). The
    # consent check waits for the next pull before an allow, so a longer interval slows it.
    replica_catch_up_seconds: float = 2.0
    replica_catch_up_max_pages: int = 10
    replica_catch_up_min_interval_seconds: float = 0.01
    # The people feed's head (servicekit.replica.FeedHead): a Redis URL shared by identity, which
    # stores there the newest feed number before each write commits, and every follower, which
    # then skips a catch-up's pull when it has applied that far. Empty: every catch-up pulls.
    people_feed_head_url: str = platform_field("PEOPLE_FEED_HEAD_URL", "")  # type: ignore[assignment]
    people_feed_head_key: str = platform_field(  # type: ignore[assignment]
        "PEOPLE_FEED_HEAD_KEY", "esafety:people-feed:head"
    )
    # The outbox (servicekit.outbox): whether this process runs the worker (a task beside the
    # server), how often it looks for due messages when no commit of its own has woken it, how
    # long a claim holds a message (a worker killed meanwhile leaves it to the next after this),
    # how many it takes at once, and the retries: first delay, longest delay, for how long.
    outbox_worker: bool = True
    outbox_poll_seconds: float = 1.0
    outbox_lease_seconds: float = 60.0
    outbox_batch_size: int = 20
    outbox_retry_first_seconds: float = 5.0
    outbox_retry_max_seconds: float = 3600.0
    outbox_retry_hours: float = 24.0
    # Scheduled staff alerts (servicekit.alerts.Scheduler: end of the school day, weekly): how often
    # this process looks whether one is due; 0 turns it off. Once per period whatever the workers.
    alert_scheduler_seconds: float = 30.0
    # After start-up, move what is alive (the app, its models, SQLAlchemy's and pydantic's
    # machinery) out of the garbage collector's reach: otherwise every full collection walks it
    # all again, and under load that was a third of the consent check's CPU and most of its p99
    # (bench/consent_check.py). Off only where many apps share one process (the in-process tests).
    gc_freeze: bool = platform_field("GC_FREEZE", True)  # type: ignore[assignment]
    # At start-up, refuse unless the database is at this code's migrations (they are applied by
    # their own step, `python3 manage.py migrate` or the migration job, never by a replica).
    schema_check: bool = platform_field("SCHEMA_CHECK", True)  # type: ignore[assignment]

    def development_secrets(self) -> list[str]:
        """Names of settings that still hold a development secret (subclasses add theirs)."""
        bad = []
        if self.feed_client_secret.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX):
            bad.append("feed_client_secret")
        return bad

    @model_validator(mode="after")
    def _resolve_docs_and_public_url(self) -> Self:
        if self.docs_enabled is None:
            self.docs_enabled = not self.is_production
        self.public_base_url = (self.public_base_url or self.issuer).rstrip("/")
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", self.public_base_url):
            raise ValueError(f"public base URL {self.public_base_url!r}: an http(s) URL, no query")
        return self

    @model_validator(mode="after")
    def _enforce_non_default_secrets(self) -> Self:
        if self.environment == "production":
            bad = self.development_secrets()
            if bad:
                raise ValueError(
                    f"refusing to start in production with development secrets: {', '.join(bad)}"
                )
            if "*" in self.cors_origins:
                raise ValueError("CORS origin '*' is not allowed in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def docs_on(self) -> bool:
        return bool(self.docs_enabled)
