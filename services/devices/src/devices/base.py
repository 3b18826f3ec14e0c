"""The declarative base of the devices tables (domains import it; `devices.models` gathers them)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
