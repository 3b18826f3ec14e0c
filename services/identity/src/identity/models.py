"""Every identity table, imported in one place for alembic and the app."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


# Every domain's tables, so alembic and the app see them (imported after Base exists).
from identity.accounts import models as _accounts  # noqa: E402, F401
from identity.agreements import models as _agreements  # noqa: E402, F401
from identity.alert_contacts import models as _alert_contacts  # noqa: E402, F401
from identity.changes import models as _changes  # noqa: E402, F401
from identity.clients import models as _clients  # noqa: E402, F401
from identity.invitations import models as _invitations  # noqa: E402, F401
from identity.oauth import models as _oauth  # noqa: E402, F401
from identity.oidc import models as _oidc  # noqa: E402, F401
from identity.people import models as _people  # noqa: E402, F401
from identity.recovery import models as _recovery  # noqa: E402, F401
from identity.schools import models as _schools  # noqa: E402, F401
from identity.security import models as _security  # noqa: E402, F401
