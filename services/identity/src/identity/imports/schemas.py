"""The rows of a roll import and the import's report."""

from __future__ import annotations

import uuid
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.people.schemas import (
    ExternalRef,
    Name,
    PersonKind,
    Relationship,
    YearGroup,
    person_rule_problem,
)
from servicekit.params import IsoDate

MAX_ROWS = 5000
REQUIRED_COLUMNS = ("external_ref", "kind", "given_name", "family_name")
OPTIONAL_COLUMNS = ("year_group", "date_of_birth", "carer_of", "relationship", "parental_responsibility")

RowStatus = Literal["created", "updated", "unchanged", "refused"]


class ImportRow(BaseModel):
    """One person of the roll; a carer's row names the pupil (`carer_of`, their UPN)."""

    model_config = ConfigDict(extra="forbid")

    external_ref: ExternalRef
    kind: PersonKind
    given_name: Name
    family_name: Name
    year_group: YearGroup | None = None
    date_of_birth: IsoDate | None = None
    carer_of: ExternalRef | None = None
    relationship: Relationship | None = None
    parental_responsibility: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        # MIS exports leave optional cells empty.
        if isinstance(data, dict):
            return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problem = person_rule_problem(self.kind, self.year_group, self.external_ref)
        if problem:
            raise ValueError(problem)
        if self.carer_of is not None:
            if self.kind != "parent":
                raise ValueError("Only a parent's row may have carer_of.")
            if self.relationship is None or self.parental_responsibility is None:
                raise ValueError("A carer's row needs relationship and parental_responsibility.")
        elif self.relationship is not None or self.parental_responsibility is not None:
            raise ValueError("relationship and parental_responsibility go with carer_of.")
        return self


class ImportBody(BaseModel):
    """A roll sent as JSON; each row is checked on its own, so one bad row refuses only itself."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class ImportLine(BaseModel):
    row: int = Field(description="1-based: the row's position (CSV: its line number, header is 1)")
    external_ref: str | None
    kind: str | None
    status: RowStatus
    person_id: uuid.UUID | None = None
    reason: str | None = None


class LeaverLine(BaseModel):
    external_ref: str | None
    person_id: uuid.UUID


class ImportCounts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    left: int = 0


class ImportReport(BaseModel):
    school_id: uuid.UUID
    dry_run: bool
    counts: ImportCounts
    rows: list[ImportLine]
    left: list[LeaverLine]
