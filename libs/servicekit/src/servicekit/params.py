"""Dates and times as every service takes them, in query parameters and request bodies alike.

Pydantic's lax mode would read a JSON number (0, 1700000000), a numeric string ("0.5") or a
boolean in a `date` or `datetime` field as seconds since 1970, and would take a time without an
offset. The API takes text only: `IsoDate` is `YYYY-MM-DD`, `Rfc3339` an RFC 3339 date-time with
an offset. Both still publish `format: date` / `format: date-time` in the OpenAPI.
Response models keep plain `date` and `datetime`.

Free text in a query parameter (a search, a filter) is `Query(pattern=TEXT_PATTERN, ...)`:
PostgreSQL's text holds no NUL character, so a filter with one could only fail in the database;
the published schema says so, and such a query is a 422 naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

TEXT_PATTERN = r"^[^\x00]*$"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.IGNORECASE,
)
_DATE_EXPECTED = "Expected a date as YYYY-MM-DD, e.g. 2026-09-01"
_DATE_TIME_EXPECTED = "Expected an RFC 3339 date-time with an offset, e.g. 2026-09-01T08:30:00Z"
_DATE_TIME_RANGE = "Expected a date-time within years 1 to 9999 in UTC"


def _iso_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date_format", _DATE_EXPECTED)


def _rfc3339(value: Any) -> datetime:
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        try:
            value = datetime.fromisoformat(value.upper())
        except ValueError:
            raise PydanticCustomError("date_time_format", _DATE_TIME_EXPECTED) from None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise PydanticCustomError("date_time_format", _DATE_TIME_EXPECTED)
    try:
        # Stored as UTC: 0001-01-01T00:00:00+01:00 would fall before year 1.
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("date_time_range", _DATE_TIME_RANGE) from None
    return value


# A day: `YYYY-MM-DD` text, never a number, a boolean or a time.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
# A moment: RFC 3339 text with an offset (`Z` or `+01:00`), never a number or a time without an offset.
Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]
