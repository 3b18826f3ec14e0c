"""The incidents service's settings, from the environment (prefix INCIDENTS_)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from servicekit.settings import DEVELOPMENT_SECRET_PREFIX, ServiceSettings


class IncidentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENTS_", extra="ignore")

    service_name: str = "incidents"
    database_url: str = "sqlite+aiosqlite:///var/incidents.db"
    # Key of the HMAC that turns a person's id into the pseudonym an LA sees (stable per LA).
    pseudonym_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET_PREFIX + "incidents-pseudonym-key")
    # Rows read from the database per chunk while an export streams (memory stays flat).
    export_chunk_rows: int = 2000

    def development_secrets(self) -> list[str]:
        bad = super().development_secrets()
        if self.pseudonym_secret.get_secret_value().startswith(DEVELOPMENT_SECRET_PREFIX):
            bad.append("pseudonym_secret")
        return bad
