"""Parameter types shared by every service's routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator


def _rfc3339_text(value: Any) -> Any:
    # Pydantic would read "0.5" as seconds since 1970; the API takes RFC 3339 times only.
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an RFC 3339 date-time, e.g. 2026-09-01T08:00:00Z")
    return value


# A query parameter holding a time: RFC 3339 with an offset, never a bare number.
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
