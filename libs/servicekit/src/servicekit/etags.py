"""ETags of versioned records and the `If-Match` header that guards changes to them (CONTRACT.md).

One format, one parser, one pair of problems for every service, so a client learns them once:

- The ETag of a record is a strong tag built from its `version` column: `"<version>"`, or
  `"<record_id>.<version>"` for a record whose tag also names it (incidents publish that shape and
  their clients and tests send it back). Clients treat it as opaque; only this module builds one.
- `If-Match` is a comma-separated list of tags; `W/` is ignored (weak comparison); `*` matches any
  record that exists. A tag this API never gave out simply matches nothing.
- Required and missing is 428 `if-match-required`; sent and matching nothing is 412 `stale-etag`,
  with the record's current ETag in the response.

Whether a route requires `If-Match` is declared at the route: `if_match: IfMatchRequired` or
`if_match: IfMatchOptional`. The dependency never refuses by itself: the route (or the service
function it calls, once it holds the record) calls `if_match.check(record.version)`, so a record of
another school is still 404 and an invalid body still 422 before any 428 or 412.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Response

from servicekit.errors import PreconditionFailed, PreconditionRequired

# The longest If-Match accepted (a few tags); longer is 422 from the header's schema.
MAX_IF_MATCH = 200


class IfMatchMissing(PreconditionRequired):
    slug = "if-match-required"

    def __init__(self) -> None:
        super().__init__("Send If-Match with the ETag you read.")


class StaleETag(PreconditionFailed):
    slug = "stale-etag"

    def __init__(self, current: str | None = None) -> None:
        super().__init__(
            "The record changed since this ETag was read; read it again and retry.",
            headers={"ETag": current} if current is not None else None,
        )


def etag(version: int, *, record_id: uuid.UUID | None = None) -> str:
    """The ETag of a record at `version` (naming the record too when `record_id` is given)."""
    return f'"{record_id}.{version}"' if record_id is not None else f'"{version}"'


def etag_header(version: int, *, record_id: uuid.UUID | None = None) -> dict[str, str]:
    """`{"ETag": ...}`, for a response built with `headers=` (e.g. `idem.respond`)."""
    return {"ETag": etag(version, record_id=record_id)}


def set_etag(response: Response, version: int, *, record_id: uuid.UUID | None = None) -> None:
    """Put the record's ETag on the response a route returns."""
    response.headers["ETag"] = etag(version, record_id=record_id)


class IfMatch:
    """The `If-Match` a request sent (or not), and whether its route requires one."""

    def __init__(self, header: str | None, *, required: bool) -> None:
        self.required = required
        self.tags: frozenset[str] | None = (
            None if header is None else frozenset(t.strip().removeprefix("W/") for t in header.split(","))
        )

    @property
    def sent(self) -> bool:
        return self.tags is not None

    def matches(self, version: int | None, *, record_id: uuid.UUID | None = None) -> bool:
        """Whether a record now at `version` (None: there is none yet) may be changed; True if none sent."""
        if self.tags is None:
            return True
        if version is None:
            return False
        return "*" in self.tags or etag(version, record_id=record_id) in self.tags

    def require(self) -> None:
        """428 when the route requires If-Match and none was sent."""
        if self.required and self.tags is None:
            raise IfMatchMissing()

    def check(self, version: int | None, *, record_id: uuid.UUID | None = None) -> None:
        """428 when required and missing; 412 (with the current ETag) when it names another version."""
        self.require()
        if not self.matches(version, record_id=record_id):
            raise StaleETag(None if version is None else etag(version, record_id=record_id))


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=MAX_IF_MATCH,
        description="The ETag of the record as you last read it; a stale one is 412 and changes nothing.",
    ),
]


async def _required(if_match: IfMatchHeader = None) -> IfMatch:
    return IfMatch(if_match, required=True)


async def _optional(if_match: IfMatchHeader = None) -> IfMatch:
    return IfMatch(if_match, required=False)


# Declared at the route. Both publish the header as optional: a missing one is 428, never 422.
IfMatchRequired = Annotated[IfMatch, Depends(_required)]
IfMatchOptional = Annotated[IfMatch, Depends(_optional)]
