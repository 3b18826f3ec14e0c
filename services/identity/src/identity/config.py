"""Identity's settings, from the environment (prefix IDENTITY_)."""

from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit import outbound
from servicekit.settings import DEVELOPMENT_SECRET_PREFIX, ServiceSettings


def _unprefixed(name: str, default: object) -> object:
    """A setting read from `NAME` without the IDENTITY_ prefix (the contract names it so)."""
    return Field(default=default, validation_alias=AliasChoices(name, name.lower()))


class ServiceClientConfig(BaseModel):
    """An OAuth client another service uses (e.g. to follow the people feed), made at start."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._\-]+$")
    client_secret: SecretStr = Field(min_length=16, max_length=200)
    scopes: list[str] = Field(max_length=50)


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    database_url: str = "sqlite+aiosqlite:///var/identity.db"

    # --- accounts, tokens and sign-in (part A) ---
    keys_dir: str = "var/keys"
    # Encrypts TOTP seeds at rest.
    totp_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_PREFIX + "totp-seed-encryption-key")
    access_token_seconds: int = Field(default=600, ge=60, le=600)
    refresh_idle_seconds: int = Field(default=600, ge=60, le=3600)
    session_max_seconds: int = Field(default=12 * 3600, ge=600, le=12 * 3600)
    # Per account, and per (address, account): guesses allowed per window (SECURITY.md: 10 in 5 min).
    signin_max_failures: int = Field(default=10, ge=1, le=1000)
    # Per address: a flood guard only. One LA proxy can carry ~90 schools (~5,400 staff); if one in
    # five mistypes once at 08:45 that is ~1,100 failures in a window: 2,000 leaves room for that and
    # still stops a spray of guesses across accounts (docs/operations-gateway.md).
    signin_source_max_failures: int = Field(default=2000, ge=1, le=1_000_000)
    # Per address: wrong client secrets (/oauth/token, /oauth/revoke) per window.
    signin_client_max_failures: int = Field(default=100, ge=1, le=1_000_000)
    signin_window_seconds: int = Field(default=300, ge=1)
    signin_max_backoff_seconds: int = Field(default=900, ge=1)
    # Redis shared by identity's replicas for the throttle's counters; empty: the database.
    redis_url: str = ""
    # The throttle's keys start with this (several platforms, or test runs, may share one Redis).
    redis_key_prefix: str = "identity:throttle:"
    visitor_default_hours: int = Field(default=24, ge=1)
    visitor_max_days: int = Field(default=30, ge=1)
    # --- parents' invitations, password reset (issue 13) ---
    invitation_days: int = Field(default=7, ge=1, le=30)
    # A code asked for on the reset page (e-mailed), and one the office hands over in person.
    reset_code_minutes: int = Field(default=30, ge=5, le=24 * 60)
    reset_handover_hours: int = Field(default=24, ge=1, le=72)
    # Reset requests and code entries per address (and requests per account) in the sign-in window.
    reset_max_requests: int = Field(default=5, ge=1, le=1000)
    reset_source_max_attempts: int = Field(default=50, ge=1, le=1_000_000)
    # --- OpenID Connect back-channel logout (the guard is servicekit.outbound) ---
    # A client's backchannel_logout_uri is https on a public address, checked at registration and
    # again before each call; loopback (http or https) too only where this is on, which it is by
    # default in development and never may be in production. Without DNS (the test platforms),
    # only IP literals and `localhost` resolve. Each call connects within the connect timeout and
    # is answered within the timeout, or that client is not told.
    backchannel_allow_loopback: bool | None = None
    backchannel_resolve_dns: bool = True
    backchannel_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=10)
    backchannel_timeout_seconds: float = Field(default=3.0, gt=0, le=10)
    service_clients: list[ServiceClientConfig] = Field(default_factory=list, max_length=50)
    bootstrap_admin_username: str = _unprefixed("BOOTSTRAP_ADMIN_USERNAME", "")  # type: ignore[assignment]
    bootstrap_admin_password: SecretStr = _unprefixed(  # type: ignore[assignment]
        "BOOTSTRAP_ADMIN_PASSWORD", SecretStr("")
    )
    bootstrap_admin_totp_secret: SecretStr = _unprefixed(  # type: ignore[assignment]
        "BOOTSTRAP_ADMIN_TOTP_SECRET", SecretStr("")
    )

    @model_validator(mode="after")
    def _loopback_backchannel_in_development_only(self) -> Self:
        self.backchannel_allow_loopback = outbound.loopback_setting(
            self.backchannel_allow_loopback, environment=self.environment, name="backchannel_allow_loopback"
        )
        return self

    def development_secrets(self) -> list[str]:
        bad = super().development_secrets()
        if self.totp_key.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX):
            bad.append("totp_key")
        if self.bootstrap_admin_password.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX):
            bad.append("bootstrap_admin_password")
        for client in self.service_clients:
            if client.client_secret.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX):
                bad.append(f"service_clients[{client.client_id}]")
        return bad
