"""Cursor pagination for lists: `{"items": [...], "next_cursor": ...}` and a `Link: rel="next"` header.

Cursors are opaque to clients (base64url JSON); a tampered cursor is a 422, never a 500.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from servicekit.errors import Unprocessable
from servicekit.urls import public_url

T = TypeVar("T")

MAX_LIMIT = 500

LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 500).")]
CursorParam = Annotated[
    str | None, Query(max_length=500, description="The `next_cursor` of the previous page.")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("The cursor is not one this API gave out.", slug="bad-cursor") from exc
    if not isinstance(data, dict):
        raise Unprocessable("The cursor is not one this API gave out.", slug="bad-cursor")
    return data


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """Add `Link: <...>; rel="next"` (on the public base URL) while more pages remain."""
    if next_cursor:
        url = request.url.include_query_params(cursor=next_cursor)
        response.headers["Link"] = f'<{public_url(request, url.path, url.query)}>; rel="next"'


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    order_by: Sequence[InstrumentedAttribute[Any]],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Keyset pagination of an entity select over unique `order_by` columns (e.g. created_at, id).

    Returns the entities of this page and the cursor of the next one (None on the last page).
    """
    after = decode_cursor(cursor)
    if after is not None:
        raw = after.get("k")
        if not isinstance(raw, list) or len(raw) != len(order_by):
            raise Unprocessable("The cursor is not one this API gave out.", slug="bad-cursor")
        values = [_coerce(col, value) for col, value in zip(order_by, raw, strict=True)]
        key = tuple_(*order_by)
        stmt = stmt.where(key < tuple_(*values) if descending else key > tuple_(*values))
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    rows = list((await session.scalars(stmt.order_by(*ordering).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor({"k": [_plain(getattr(rows[-1], c.key)) for c in order_by]})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str):
        return value
    return str(value)


def _coerce(col: InstrumentedAttribute[Any], value: Any) -> Any:
    try:
        kind = col.type.python_type
        if kind is datetime:
            return datetime.fromisoformat(value)
        if kind is date:
            return date.fromisoformat(value)
        if kind is uuid.UUID:
            return uuid.UUID(value)
        return kind(value)
    except (NotImplementedError, TypeError, ValueError) as exc:
        raise Unprocessable("The cursor is not one this API gave out.", slug="bad-cursor") from exc
