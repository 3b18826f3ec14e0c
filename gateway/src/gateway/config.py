"""The gateway's settings, from the environment (prefix GATEWAY_; platform-wide values unprefixed).

The list of services behind the gateway is configuration (`GATEWAY_UPSTREAMS`, a JSON list the
launcher builds from platform.toml), so a service added later needs no code change here.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from gateway.quotas import DEFAULT_QUOTAS, Quota
from servicekit.settings import ServiceSettings

DEFAULT_PUBLIC_PATHS = [
    "/oauth/token",
    "/oauth/revoke",
    # identity's OpenID Connect provider: the browser's pages and userinfo (its own bearer check)
    "/oauth/authorize",
    "/oauth/signin",
    "/oauth/signin/otp",
    "/oauth/logout",
    "/oauth/userinfo",
    "/oauth/assets/*",
    # identity's account pages: accepting a parent's invitation, resetting a password by code
    "/oauth/account/*",
    "/.well-known/*",
    "/livez",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/assets/*",
    "/openapi.json",
    "/v1/media-consent/.well-known/jwks.json",
]

# Request bodies larger than `max_body_bytes` that some routes take (path prefix → bytes).
DEFAULT_BODY_LIMITS = {
    # media-consent's scans take images up to 12 MiB (its own cap, checked there too).
    "/v1/media-consent/media-scans": 12_582_912,
    # The console's roll upload (a browser's form): let a file over the roll's own cap reach the
    # console, which says so next to the file field instead of the browser showing a 413's JSON. The
    # file goes on to identity under `/v1/identity/people/imports`' cap (`max_body_bytes`).
    "/roll-import": 16_777_216,
}
MAX_BODY_LIMIT = 1 << 30


class Upstream(BaseModel):
    """One service behind the gateway and the path prefixes routed to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    url: str = Field(min_length=1, max_length=512, pattern=r"^https?://[^/?#]+$")
    prefixes: tuple[str, ...] = Field(min_length=1, max_length=50)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The console signs people in itself (a session cookie, its own OIDC client): its pages pass the
    # gateway without a bearer token, and it publishes no API, so no OpenAPI document is fetched from it.
    signs_in_itself: bool = False

    @field_validator("url", mode="before")
    @classmethod
    def _strip_slash(cls, value: object) -> object:
        return value.rstrip("/") if isinstance(value, str) else value

    @field_validator("prefixes")
    @classmethod
    def _check_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if prefix == "/":  # everything no other prefix takes (the console)
                continue
            if not prefix.startswith("/") or prefix.endswith("/") or len(prefix) > 200:
                raise ValueError(f"prefix {prefix!r} must start with '/' and not end with one")
        return value


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    upstreams: list[Upstream] = []
    public_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_PUBLIC_PATHS))
    # Docs (GATEWAY_DOCS_ENABLED: on, except in production), who may read /metrics
    # (PLATFORM_METRICS_SCRAPERS) and whose X-Forwarded-For is believed (PLATFORM_TRUSTED_PROXIES:
    # a load balancer in front) are ServiceSettings', shared with the services.
    metrics_enabled: bool = True

    # Caps
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_header_bytes: int = Field(default=16_384, gt=0)
    # Bytes of the raw query string. Every query the services' OpenAPI allows fits, at its longest
    # (audit filters in 4-byte characters, percent-encoded: under 6 KB); tests/contract/test_fuzz.py
    # checks each operation against this default.
    max_query_length: int = Field(default=8_192, gt=0)
    # Per path prefix (whole segments; the longest wins), a body cap other than `max_body_bytes`.
    # Setting it replaces the defaults: list the media-scans route too when you set it.
    body_limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_BODY_LIMITS), max_length=100)

    # Access log: "all" (a line per request), "problems" (statuses outside 2xx/3xx, no response,
    # or slower than `access_log_slow_ms`), or "off". Services log every request themselves, and a
    # line per request costs the gateway a quarter to a third more CPU per request.
    access_log: Literal["all", "problems", "off"] = "problems"
    access_log_slow_ms: float = Field(default=1000.0, ge=0)

    # Rate limits (fixed windows of `rate_limit_window_seconds`)
    rate_limit_enabled: bool = True
    rate_limit_per_client: int = Field(default=600, gt=0)
    # Per address and path, a flood guard only: one address can be a whole LA's schools behind a
    # proxy (~90 schools, ~5,400 staff signing in around 08:45 and refreshing every 10 minutes:
    # ~1,100 + ~540 token requests a minute). Guesses are limited per account in identity.
    rate_limit_token_per_address: int = Field(default=3000, gt=0)
    rate_limit_window_seconds: int = Field(default=60, gt=0)
    rate_limit_paths: list[str] = ["/oauth/token", "/oauth/revoke"]
    client_quotas: list[Quota] = Field(default_factory=lambda: list(DEFAULT_QUOTAS))
    redis_url: str = ""
    redis_key_prefix: str = "gateway:rl:"

    # Forwarding
    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    pool_size: int = Field(default=256, gt=0)
    # Slow clients (every wait on a client is bounded): the request body must keep arriving (no gap
    # longer than the idle timeout) and be complete within the body timeout, else 408; a request
    # waits at most `pool_wait_seconds` for a connection to its service, else 503; one client (a
    # token's client or account, else an address) holds at most `pool_share_per_client` of a
    # service's connections (None: a quarter of `pool_size`); a client that takes longer than
    # `send_timeout_seconds` to accept the next piece of a streamed response is cut off.
    body_idle_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=120.0, gt=0)
    pool_wait_seconds: float = Field(default=5.0, gt=0)
    pool_share_per_client: int | None = Field(default=None, gt=0)
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, gt=0)
    breaker_cooldown_seconds: float = Field(default=10.0, gt=0)
    readyz_timeout_seconds: float = Field(default=2.0, gt=0)
    openapi_cache_seconds: float = Field(default=60.0, ge=0)

    # CORS
    cors_allow_credentials: bool = True

    @model_validator(mode="after")
    def _check_gateway(self) -> Self:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("CORS origin '*' cannot be combined with credentials: list the allowed origins")
        if self.pool_share_per_client is None:
            self.pool_share_per_client = max(1, self.pool_size // 4)
        elif self.pool_share_per_client > self.pool_size:
            raise ValueError("pool_share_per_client cannot be more than pool_size")
        names = [u.name for u in self.upstreams]
        if len(names) != len(set(names)):
            raise ValueError("upstream names must be unique")
        prefixes = [p for u in self.upstreams for p in u.prefixes]
        if len(prefixes) != len(set(prefixes)):
            raise ValueError("a path prefix is routed to more than one upstream")
        for prefix, limit in self.body_limits.items():
            if not prefix.startswith("/") or prefix.endswith("/") or len(prefix) > 200:
                raise ValueError(f"body limit prefix {prefix!r} must start with '/' and not end with one")
            if not 0 < limit <= MAX_BODY_LIMIT:
                raise ValueError(f"body limit for {prefix!r} must be between 1 and {MAX_BODY_LIMIT} bytes")
        for path in self.public_paths:
            if not path.startswith("/") or "*" in path[:-1]:
                raise ValueError(f"public path {path!r}: an exact path, or a prefix ending in '*'")
        return self
