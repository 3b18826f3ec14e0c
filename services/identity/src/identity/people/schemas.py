"""Request and response bodies of the people and carer-link APIs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from identity.people.upn import upn_problem
from servicekit.params import IsoDate

PersonKind = Literal["pupil", "staff", "parent", "governor", "visitor"]
YearGroup = Literal["N", "R", "1", "2", "3", "4", "5", "6"]
# No control characters: these values end up in CSV exports, logs and letters home.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_PRINTABLE)
]
ExternalRef = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=_PRINTABLE)
]
Relationship = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=_PRINTABLE)
]


def person_rule_problem(kind: str, year_group: str | None, external_ref: str | None) -> str | None:
    """Why this combination is not a valid person, or None.

    Pupils need a year group and no one else has one; a pupil's external reference is their UPN.
    """
    if kind == "pupil":
        if year_group is None:
            return "A pupil needs a year_group (N, R, 1 to 6)."
        if external_ref is not None:
            problem = upn_problem(external_ref)
            if problem is not None:
                return f"external_ref of a pupil is their UPN: {problem}"
    elif year_group is not None:
        return "Only pupils have a year_group."
    return None


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    school_id: uuid.UUID
    kind: PersonKind
    given_name: Name
    family_name: Name
    year_group: YearGroup | None = None
    external_ref: ExternalRef | None = None
    date_of_birth: IsoDate | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problem = person_rule_problem(self.kind, self.year_group, self.external_ref)
        if problem:
            raise ValueError(problem)
        return self


class PersonUpdate(BaseModel):
    """Fields to change; the kind and the school never change."""

    model_config = ConfigDict(extra="forbid")

    given_name: Name | None = None
    family_name: Name | None = None
    year_group: YearGroup | None = None
    external_ref: ExternalRef | None = None
    date_of_birth: IsoDate | None = None


class PersonLeave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    left_on: IsoDate | None = None


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    school_id: uuid.UUID
    kind: PersonKind
    given_name: str
    family_name: str
    year_group: YearGroup | None
    date_of_birth: date | None
    external_ref: str | None
    is_on_roll: bool
    left_on: date | None
    created_at: datetime
    updated_at: datetime
    version: int


class CarerLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carer_id: uuid.UUID
    relationship: Relationship
    parental_responsibility: bool


class CarerLinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    school_id: uuid.UUID
    pupil_id: uuid.UUID
    carer_id: uuid.UUID
    relationship: str
    # Read from the row's `has_parental_responsibility`; published under the shorter name.
    parental_responsibility: bool = Field(validation_alias="has_parental_responsibility")
    is_active: bool
    created_at: datetime
    ended_at: datetime | None
