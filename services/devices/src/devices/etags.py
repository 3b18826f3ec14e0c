"""ETags of versioned records and the optional `If-Match` header that guards changes to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from servicekit.errors import PreconditionFailed, Unprocessable


def etag(version: int) -> str:
    return f'"{version}"'


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(max_length=100, description="The record's ETag; a stale one is 412 and changes nothing."),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 12:
        raise Unprocessable("If-Match must be an ETag this API gave out.", slug="bad-etag")
    return int(value)


IfMatch = Annotated[int | None, Depends(_if_match)]


class StaleVersion(PreconditionFailed):
    slug = "stale-etag"

    def __init__(self) -> None:
        super().__init__("The record changed since this ETag was read; read it again and retry.")
