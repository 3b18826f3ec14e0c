"""The devices service's settings, from the environment (prefix DEVICES_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class DevicesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEVICES_", extra="ignore")

    service_name: str = "devices"
    database_url: str = "sqlite+aiosqlite:///var/devices.db"
    # The school day (a phone "received on" a date, loans "due on" a date) is in this zone.
    timezone: str = "Europe/London"
    # Confiscated phones held longer than this are listed at the end of the day.
    confiscation_days: int = 3
    # Equipment whose last clean anti-virus/spyware scan is older than this is listed as stale.
    scan_max_age_days: int = 30
