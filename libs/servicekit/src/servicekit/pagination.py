"""Cursor pagination for lists: `{"items": [...], "next_cursor": ...}` and a `Link: rel="next"` header.

A list's cursor is the id (a UUID) of the last item of the page before. The next page starts after
that row's key (its `order_by` values, read again by id), so the published schema (`format: uuid`)
says exactly which cursors are accepted: every UUID is one, and one that names no row gives an
empty last page (200), never a 422 for a value the schema allows. The key is read without the
list's filters, so a row that left the list between two pages (a phone returned) still marks the
place; the page itself shows only what the list's query lets the caller see.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request, Response
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from servicekit.errors import Unprocessable
from servicekit.urls import public_url

T = TypeVar("T")

MAX_LIMIT = 500

LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (at most 500).")]


def _blank_is_first_page(value: Any) -> Any:
    return None if value == "" else value


# `cursor=` (empty, as some HTTP clients send an unset parameter) is the first page, as it always
# was; the schema says so too, so it stays exactly what the service accepts.
CursorParam = Annotated[
    uuid.UUID | None,
    BeforeValidator(_blank_is_first_page),
    Query(
        description="The `next_cursor` of the previous page (empty or absent: the first page).",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "format": "uuid"},
                {"type": "string", "maxLength": 0},
                {"type": "null"},
            ]
        },
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The JSON of a base64url cursor (the change feeds' cursors before they became numbers)."""
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
    cursor: uuid.UUID | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Keyset pagination of an entity select over unique `order_by` columns ending with the id
    (e.g. created_at, id).

    Returns the entities of this page and the cursor of the next one (None on the last page).
    """
    id_column = order_by[-1]
    if id_column.type.python_type is not uuid.UUID:
        raise TypeError("paginate's order_by must end with the rows' UUID id")
    if cursor is not None:
        after = (await session.execute(select(*order_by).where(id_column == cursor))).first()
        if after is None:
            return [], None
        key = tuple_(*order_by)
        values = tuple_(*after)
        stmt = stmt.where(key < values if descending else key > values)
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    rows = list((await session.scalars(stmt.order_by(*ordering).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, str(getattr(rows[-1], id_column.key))
