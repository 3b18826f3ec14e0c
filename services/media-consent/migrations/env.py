"""Alembic environment of the media-consent service (the shared logic lives in servicekit)."""

from media_consent.config import MediaConsentSettings
from media_consent.models import Base
from servicekit.migrations import run_env

run_env(Base.metadata, default_url=MediaConsentSettings().database_url)
