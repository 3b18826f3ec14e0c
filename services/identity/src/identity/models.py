"""Every identity table, imported in one place for alembic and the app."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
