"""Parameter types shared by every service's routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator


def _rfc3339_text(value: Any) -> Any:
    # Pydantic would read "0.5" as seconds since 1970; the API takes RFC 3339 times only.
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an RFC 3339 date-time, e.g. 2026-09-01T08:00:00Z")
    return value


# A query parameter holding a time: RFC 3339 with an offset, never a bare number.
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


def _iso_date_text(value: Any) -> Any:
    # Pydantic would read "0" as 1970-01-01 (seconds since 1970); the API takes YYYY-MM-DD only.
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("a date as YYYY-MM-DD")
    return value


# A query parameter holding a day: YYYY-MM-DD, never a bare number.
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
