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
    count: int


class Disclosure(BaseModel):
    """How the counts were protected, so a chart made of them can say so (see docs/la-reporting.md)."""

    period: str = Field(
        default="whole calendar months",
        description="`from` and `to` are widened to whole calendar months (the effective period).",
    )
    cell: str = Field(
        default="school, calendar month, group",
        description="Counts are first taken per cell: one school, one month, one value of each grouping.",
    )
    withheld_below: int = Field(
        description="A cell of fewer incidents is withheld, as if none: a group that is not listed "
        "had fewer than this (perhaps none) in every cell of the period."
    )
    rounded_to: int = Field(description="Every other cell is rounded to the nearest multiple of this.")
    sums: str = Field(
        default="published cells",
        description="Every count and the total are sums of published cells, never recounted exactly.",
    )


class Stats(BaseModel):
    from_: date | None = Field(
        default=None, serialization_alias="from", description="The effective start (1st of its month)."
    )
    to: date | None = Field(default=None, description="The effective end (last day of its month).")
    group_by: list[str]
    total: int = Field(
        description="Incidents of the period: the sum of the published totals of each school and month."
    )
    suppressed: bool = Field(
        description="Always true: small counts are withheld, and whether any were is not told."
    )
    disclosure: Disclosure
    items: list[StatsRow]
