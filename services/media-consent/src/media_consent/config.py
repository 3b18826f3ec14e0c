"""The media-consent service's settings, from the environment (prefix MEDIA_CONSENT_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class MediaConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIA_CONSENT_", extra="ignore")

    service_name: str = "media-consent"
    database_url: str = "sqlite+aiosqlite:///var/media_consent.db"
    # The receipt-signing key: `<kid>.pem` (mode 600) and keys.json, generated on first start.
    keys_dir: str = "var/keys-media-consent"
    # Images sent to the metadata scan; larger ones are 413 before Pillow sees them. The body cap
    # of every request is raised to match (JSON bodies are still bounded by their models).
    max_scan_bytes: int = 12 * 1024 * 1024
    max_body_bytes: int = 12 * 1024 * 1024 + 4096
    # A check names at most this many pupils (CONTRACT.md: up to 200).
    max_check_pupils: int = 200
    # Connections of the consent check's asyncpg pool on PostgreSQL, beside the SQLAlchemy pool
    # (database_pool_size); opened as needed. Up to the concurrent checks one worker should run.
    check_pool_size: int = 10
    # A check that would allow waits at most this long for the people replica to catch up with
    # identity (a pupil who has just left must not be allowed); past it, or with identity out of
    # reach, the replica decides as it stands. A check never waits to deny and never answers 503.
    check_catch_up_seconds: float = 0.2
