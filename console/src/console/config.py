"""The console's settings, from the environment (prefix CONSOLE_; platform-wide values unprefixed)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from console.sessions import decode_key
from servicekit.settings import DEVELOPMENT_SECRET_PREFIX, platform_field


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", env_file=None)

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=AliasChoices("ENVIRONMENT", "PLATFORM_ENVIRONMENT")
    )
    # Where the console calls the API: the gateway, like every client.
    gateway_url: str = "http://127.0.0.1:8000"
    # The address people's browsers use (the gateway's public base URL, which is also the issuer).
    public_base_url: str = platform_field("PUBLIC_BASE_URL", "")  # type: ignore[assignment]
    issuer: str = platform_field("ISSUER", "http://127.0.0.1:8000")  # type: ignore[assignment]
    # The console's own OAuth client at identity: confidential, authorization code + PKCE.
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr = SecretStr("")
    # Or a JSON file {"client_id", "client_secret"} read at sign-in (mode 600): the run command's
    # demo registers the console's client after the console has started, and leaves it there.
    oidc_client_file: str = ""
    # How people sign in. "oidc" is the product path (and what the tests use). "password" (identity's
    # password grant from a form of the console's own) is kept for development against an identity
    # without OIDC; it is refused in production.
    sign_in: Literal["oidc", "password"] = "oidc"
    # SECURITY.md "Browser sessions": 10 minutes idle (the policy's lock-out), 12 hours at most.
    idle_timeout_seconds: int = Field(default=600, ge=30, le=3600)
    absolute_timeout_seconds: int = Field(default=43_200, ge=600, le=86_400)
    # None: Secure cookies everywhere but development and test (plain http on loopback).
    secure_cookies: bool | None = None
    # Bounded so one slow service cannot hold a page for ever.
    api_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # The largest roll file the console sends on to identity: the gateway's cap on
    # `POST /v1/identity/people/imports` (GATEWAY_MAX_BODY_BYTES, 1 MiB by default). A larger file is
    # refused next to the file field, before any call.
    roll_max_bytes: int = Field(default=1_048_576, ge=1024, le=16_777_216)
    # Sessions (console.sessions): in this process's memory unless a Redis is given, which every
    # console replica then shares. In Redis each session is sealed (AES-256-GCM) with `session_key`,
    # base64 of 32 random bytes, required with `redis_url` (docs/console.md, "Running several consoles").
    redis_url: SecretStr = SecretStr("")
    redis_key_prefix: str = Field(default="console:session:", min_length=1, max_length=100)
    session_key: SecretStr = SecretStr("")

    @property
    def base_url(self) -> str:
        return (self.public_base_url or self.issuer).rstrip("/")

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.environment == "production" or self.base_url.startswith("https://")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.sign_in == "password" and self.environment == "production":
            raise ValueError("CONSOLE_SIGN_IN=password is for tests only; production signs in with OIDC")
        if self.environment == "production" and any(
            secret.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX)
            for secret in (self.oidc_client_secret, self.session_key)
        ):
            raise ValueError("a console secret is still its development placeholder; set it for production")
        if self.redis_url.get_secret_value():
            if not self.session_key.get_secret_value():
                raise ValueError("CONSOLE_REDIS_URL needs CONSOLE_SESSION_KEY (sessions are sealed at rest)")
            decode_key(self.session_key.get_secret_value())
        return self
