"""Alembic environment of the identity service (the shared logic lives in servicekit)."""

from identity.config import IdentitySettings
from identity.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata, default_url=IdentitySettings().database_url)
