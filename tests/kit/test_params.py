"""servicekit's date and time types: text only, the same in query parameters and request bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from servicekit.errors import install_error_handlers
from servicekit.params import IsoDate, Rfc3339

DAY = TypeAdapter(IsoDate)
MOMENT = TypeAdapter(Rfc3339)
# What pydantic alone reads as seconds since 1970 (or 1 second), and a time without an offset.
NOT_TEXT: list[Any] = [0, 1700000000, 0.5, True, False, "0", "1700000000", "0.5", "-1", "+1e3"]


@pytest.mark.parametrize("value", [*NOT_TEXT, "2026-09-01T08:30:00", "2026-09-01T00:00:00Z"])
def test_a_date_is_yyyy_mm_dd_text_only(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        DAY.validate_python(value)
    [error] = caught.value.errors()
    assert error["type"] == "date_format"
    assert "a date as YYYY-MM-DD" in error["msg"]


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026-13-01", "26-09-01", "2026-9-1", "20260901", "", "today"]
)
def test_a_date_that_is_not_a_day_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        DAY.validate_python(value)


def test_a_date_accepts_the_proper_text() -> None:
    assert DAY.validate_python("2026-09-01") == date(2026, 9, 1)
    assert DAY.validate_json('"2026-02-28"') == date(2026, 2, 28)
    assert DAY.validate_python(date(2026, 9, 1)) == date(2026, 9, 1)


@pytest.mark.parametrize(
    "value",
    [
        *NOT_TEXT,
        "2026-09-01T08:30:00",  # naive
        "2026-09-01 08:30:00.5",  # naive
        datetime(2026, 9, 1, 8, 30),  # naive
        "2026-09-01",  # a day is not a moment
        "2026-09-01T08:30Z",  # RFC 3339 has seconds
        "2026-09-01T08:30:00+0100",  # and a colon in the offset
        "2026-09-01T08:30:00 Z",
        "2026-09-31T08:30:00Z",
        "2026-12-31T23:59:60Z",
    ],
)
def test_a_date_time_is_rfc3339_text_with_an_offset_only(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        MOMENT.validate_python(value)
    [error] = caught.value.errors()
    assert error["type"] == "date_time_format"
    assert "an RFC 3339 date-time with an offset" in error["msg"]


def test_a_date_time_accepts_the_proper_text() -> None:
    assert MOMENT.validate_python("2026-09-01T08:30:00Z") == datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    plus_one = MOMENT.validate_python("2026-09-01T09:30:00.25+01:00")
    assert plus_one.utcoffset() == timedelta(hours=1)
    assert plus_one == datetime(2026, 9, 1, 8, 30, 0, 250000, tzinfo=UTC)
    assert MOMENT.validate_python("2026-09-01t08:30:00z") == datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    assert MOMENT.validate_python("2026-09-01 08:30:00-00:00") == datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    assert MOMENT.validate_json('"2026-09-01T08:30:00Z"') == datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    aware = datetime(2026, 9, 1, 8, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert MOMENT.validate_python(aware) == aware


def test_a_date_time_that_cannot_be_stored_as_utc_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        MOMENT.validate_python("0001-01-01T00:30:00+01:00")
    assert caught.value.errors()[0]["type"] == "date_time_range"
    assert MOMENT.validate_python("0001-01-01T00:30:00Z").year == 1


class _Booking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: IsoDate
    at: Rfc3339 | None = None


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/bookings")
    async def book(body: _Booking) -> dict[str, str]:
        """Book."""
        return {"on": body.on.isoformat(), "at": body.at.isoformat() if body.at else ""}

    @app.get("/bookings")
    async def find(
        on: Annotated[IsoDate | None, Query()] = None, since: Annotated[Rfc3339 | None, Query()] = None
    ) -> dict[str, str]:
        """Find."""
        return {"on": on.isoformat() if on else "", "since": since.isoformat() if since else ""}

    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://params.test") as client:
        yield client


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"on": 0}, "body.on", "YYYY-MM-DD"),
        ({"on": 1700000000}, "body.on", "YYYY-MM-DD"),
        ({"on": "0.5"}, "body.on", "YYYY-MM-DD"),
        ({"on": True}, "body.on", "YYYY-MM-DD"),
        ({"on": "2026-09-01", "at": 1700000000}, "body.at", "RFC 3339"),
        ({"on": "2026-09-01", "at": "0"}, "body.at", "RFC 3339"),
        ({"on": "2026-09-01", "at": "2026-09-01T08:30:00"}, "body.at", "RFC 3339"),
    ],
)
async def test_a_body_with_a_bare_number_for_a_date_is_422_problem_json(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, expected: str
) -> None:
    response = await client.post("/bookings", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert expected in error["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"on": "0"}, "query.on"), ({"on": "1700000000"}, "query.on"), ({"since": "0.5"}, "query.since")],
)
async def test_a_query_parameter_takes_the_same_types(
    client: httpx.AsyncClient, query: dict[str, str], field: str
) -> None:
    response = await client.get("/bookings", params=query)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_proper_text_is_accepted_in_body_and_query(client: httpx.AsyncClient) -> None:
    body = {"on": "2026-09-01", "at": "2026-09-01T08:30:00+01:00"}
    assert (await client.post("/bookings", json=body)).json() == body
    found = await client.get("/bookings", params={"on": "2026-09-01", "since": "2026-09-01T08:30:00Z"})
    assert found.json() == {"on": "2026-09-01", "since": "2026-09-01T08:30:00+00:00"}


def test_the_openapi_still_says_date_and_date_time() -> None:
    doc = _app().openapi()
    booking = doc["components"]["schemas"]["_Booking"]["properties"]
    assert booking["on"] == {"type": "string", "format": "date", "title": "On"}
    assert {"type": "string", "format": "date-time"} in booking["at"]["anyOf"]
    params = {p["name"]: p["schema"] for p in doc["paths"]["/bookings"]["get"]["parameters"]}
    assert {"type": "string", "format": "date"} in params["on"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in params["since"]["anyOf"]
