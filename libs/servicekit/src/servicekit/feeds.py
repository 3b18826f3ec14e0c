"""Change feeds that never skip a change, even one committed out of order.

A writer takes the next number of its feed from `feed_counter` with an UPDATE, which locks that
counter row until the writer's transaction ends. A second writer of the same feed waits there, so
numbers become visible in the order they were handed out: a reader that has seen number N can
never later find an uncommitted N-1 appearing behind it. Records carry the number of their latest
change (`change_seq`, or an appended event row), and a reader pages by it.

Feed responses always carry `next_cursor` (to resume from) and `has_more` (whether to go on now).
A feed's cursor is the number of the last change read, in decimal (`FeedCursorParam` publishes the
pattern): every cursor the schema allows is a place in the feed. Cursors given out before that
(base64url JSON `{"seq": n}`, kept by LA scripts and by every service's follower) are still read.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from servicekit.errors import Unprocessable
from servicekit.models import FeedCounter
from servicekit.pagination import decode_cursor

T = TypeVar("T")

# At most 18 digits: every such number fits a BIGINT, so no allowed cursor overflows a column.
# Empty (`cursor=`, as some HTTP clients send an unset parameter) is the start, as it always was.
FEED_CURSOR_PATTERN = r"^[0-9]{0,18}$"
_DECIMAL = re.compile(FEED_CURSOR_PATTERN)

# The pattern is published, not enforced by FastAPI, so cursors of the earlier form are still read
# (cursor_position refuses anything else with a 422).
FeedCursorParam = Annotated[
    str | None,
    Query(
        max_length=100,
        description="The `next_cursor` of the previous page (resume from it).",
        json_schema_extra={"pattern": FEED_CURSOR_PATTERN},
    ),
]


class FeedPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str
    has_more: bool


async def next_sequence(session: AsyncSession, feed: str) -> int:
    """The next number of `feed`; the counter stays locked until this transaction ends.

    Take it as late as possible in the transaction: writers of one feed queue behind each other
    from this point until they commit.
    """
    stmt = (
        update(FeedCounter)
        .where(FeedCounter.name == feed)
        .values(value=FeedCounter.value + 1)
        .returning(FeedCounter.value)
    )
    value = (await session.execute(stmt)).scalar_one_or_none()
    if value is not None:
        return int(value)
    try:
        async with session.begin_nested():
            await session.execute(insert(FeedCounter).values(name=feed, value=1))
        return 1
    except IntegrityError:
        # Another writer created the counter first; take the next number from it.
        return int((await session.execute(stmt)).scalar_one())


def cursor_position(cursor: str | None) -> int:
    """The feed position a cursor names (0: from the start)."""
    if not cursor:
        return 0
    if _DECIMAL.match(cursor):
        return int(cursor)
    data = decode_cursor(cursor) if cursor.startswith("eyJ") else None
    position = data.get("seq") if data is not None else None
    if type(position) is not int or not 0 <= position < 10**18:
        raise Unprocessable("The cursor is not one this API gave out.", slug="bad-cursor")
    return position


def feed_cursor(position: int) -> str:
    return str(position)


async def read_feed(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    seq_column: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str, bool]:
    """The entities of `stmt` changed after `cursor`, oldest change first.

    Returns (entities, next_cursor, has_more); `next_cursor` is the cursor given when nothing is new.
    """
    position = cursor_position(cursor)
    page = stmt.where(seq_column > position).order_by(seq_column).limit(limit + 1)
    rows = list((await session.scalars(page)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = int(getattr(rows[-1], seq_column.key))
    return rows, feed_cursor(position), has_more
