"""The declarative base of the incidents tables (kept apart from models.py so domains can import it)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()
