"""Response bodies of LA reporting: the export item and the counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class ExportPerson(BaseModel):
    pseudonym: str
    role: str
    year_group: str | None


class ExportAction(BaseModel):
    kind: str
    occurred_at: datetime
    sanction: str | None = None
    decision: str | None = None
    referred_to: str | None = None


class ExportItem(BaseModel):
    """One incident as the LA sees it: pseudonyms and year groups, no names, no free text."""

    id: uuid.UUID
    reference: str
    school_id: uuid.UUID
    category: str
    severity: str
    status: str
    location: str
    occurred_at: datetime
    recorded_at: datetime
    updated_at: datetime
    people: list[ExportPerson]
    actions: list[ExportAction]


class ExportPage(BaseModel):
    items: list[ExportItem]
    next_cursor: str
    has_more: bool


class StatsRow(BaseModel):
    category: str | None = None
    month: str | None = None
    year_group: str | None = None
    school_id: uuid.UUID | None = None
    school_name: str | None = None
    count: int | str


class Stats(BaseModel):
    from_: date | None = Field(default=None, serialization_alias="from")
    to: date | None = None
    group_by: list[str]
    total: int
    suppressed: bool
    items: list[StatsRow]
