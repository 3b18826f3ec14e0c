"""Identity's settings, from the environment (prefix IDENTITY_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    database_url: str = "sqlite+aiosqlite:///var/identity.db"
