"""Every media-consent table, imported in one place for alembic and the app."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


# Imported for their side effect: registering each domain's tables on Base.metadata.
from media_consent.checks import models as _checks  # noqa: E402, F401
from media_consent.consent import models as _consent  # noqa: E402, F401
from media_consent.restriction import models as _restriction  # noqa: E402, F401
from media_consent.webhooks import models as _webhooks  # noqa: E402, F401
