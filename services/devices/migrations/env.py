"""Alembic environment of the devices service (the shared logic lives in servicekit)."""

from devices.config import DevicesSettings
from devices.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata, default_url=DevicesSettings().database_url)
