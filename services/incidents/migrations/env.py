"""Alembic environment of the incidents service (the shared logic lives in servicekit)."""

from incidents.config import IncidentsSettings
from incidents.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata, default_url=IncidentsSettings().database_url)
