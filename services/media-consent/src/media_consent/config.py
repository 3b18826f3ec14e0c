"""The media-consent service's settings, from the environment (prefix MEDIA_CONSENT_)."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from servicekit import outbound
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
    # What an image that will be decoded (a PNG, or a strip) may declare in its header, refused
    # (413) before a pixel is decoded: width x height x frames (an animated PNG's frames) at most
    # max_scan_pixels (25 MP: a 24 MP phone photo), at most max_scan_frames frames. A JPEG that is
    # only scanned is never decoded, so it is not held to max_scan_pixels.
    max_scan_pixels: int = 25_000_000
    max_scan_frames: int = 100
    # Pixels one worker decodes at once, over every scan in flight (a decoded pixel holds up to 4
    # bytes; a strip holds two per pixel). A scan waits at most scan_decode_wait_seconds for its
    # share, else 503 with Retry-After. At least 2 x max_scan_pixels, so any one image fits.
    scan_decode_budget_pixels: int = 64_000_000
    scan_decode_wait_seconds: float = 5.0
    # A check names at most this many pupils (CONTRACT.md: up to 200).
    max_check_pupils: int = 200
    # Connections of the consent check's asyncpg pool on PostgreSQL, beside the SQLAlchemy pool
    # (database_pool_size); opened as needed. Up to the concurrent checks one worker should run.
    check_pool_size: int = 10
    # A check that would allow waits at most this long for the people replica to catch up with
    # identity (a pupil who has just left must not be allowed); past it, or with identity out of
    # reach, the replica decides as it stands. A check never waits to deny and never answers 503.
    check_catch_up_seconds: float = 0.2
    # Webhooks (webhooks/; the guard is servicekit.outbound): targets are https on public addresses;
    # loopback (http or https) too only where this is on, which it is by default in development
    # (`manage.py run`) and never may be in production. Without DNS (tests), only IP literals and
    # `localhost` resolve. Each delivery connects within the connect timeout and is answered within
    # the timeout, or it failed.
    webhook_allow_loopback: bool | None = None
    webhook_resolve_dns: bool = True
    webhook_connect_timeout_seconds: float = 3.0
    webhook_timeout_seconds: float = 5.0
    # After a rotation, the previous secret signs too for this long (receivers switch meanwhile).
    webhook_secret_overlap_hours: float = 24.0
    webhook_max_per_school: int = 10
    # How often the service looks for consents past their `valid_until` (consent.expired).
    webhook_expiry_sweep_seconds: float = 300.0

    @model_validator(mode="after")
    def _loopback_webhooks_in_development_only(self) -> Self:
        self.webhook_allow_loopback = outbound.loopback_setting(
            self.webhook_allow_loopback, environment=self.environment, name="webhook_allow_loopback"
        )
        return self

    @model_validator(mode="after")
    def _one_image_fits_the_budget(self) -> Self:
        if self.scan_decode_budget_pixels < 2 * self.max_scan_pixels:
            raise ValueError("scan_decode_budget_pixels must be at least 2 x max_scan_pixels")
        return self
