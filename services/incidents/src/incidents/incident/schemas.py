"""Request and response bodies of the incident log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from incidents.incident.access import is_restricted
from incidents.incident.constants import (
    CATEGORY_RISK,
    FILE_EVIDENCE_KINDS,
    ActionKind,
    Category,
    EvidenceKind,
    Location,
    PersonRole,
    ReferralBody,
    ReferralDecision,
    RetentionClass,
    Sanction,
    Severity,
    Status,
)
from servicekit.params import IsoDate, Rfc3339

Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonIn(_In):
    person_id: uuid.UUID
    role: PersonRole


class IncidentCreate(_In):
    category: Category
    severity: Severity
    occurred_at: Rfc3339
    summary: Text
    location: Location
    people: list[PersonIn] = Field(default_factory=list, max_length=50)


class IncidentUpdate(_In):
    """The fields a lead may change; anything left out stays as it is."""

    category: Category | None = None
    severity: Severity | None = None
    status: Status | None = None
    occurred_at: Rfc3339 | None = None
    summary: Text | None = None
    location: Location | None = None
    legal_hold: bool | None = None
    legal_hold_reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.legal_hold is True and not self.legal_hold_reason:
            raise ValueError("a legal hold needs legal_hold_reason")
        return self


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: uuid.UUID
    role: str
    kind: str
    year_group: str | None


class IncidentRead(BaseModel):
    # `IncidentRead.model_validate(row)`: `risk` and `is_restricted` are read from the row's category,
    # `legal_hold` from `has_legal_hold` (`AliasChoices`: two fields read one column, which pydantic's
    # mypy plugin accepts only so). A docstring here would change the published OpenAPI.
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference: str
    school_id: uuid.UUID
    category: str
    risk: str = Field(validation_alias=AliasChoices("category"))
    severity: str
    status: str
    location: str
    summary: str
    occurred_at: datetime
    recorded_at: datetime
    updated_at: datetime
    reported_by_person_id: uuid.UUID | None
    version: int
    is_restricted: bool = Field(validation_alias=AliasChoices("category"))
    retention_class: RetentionClass
    review_on: date
    legal_hold: bool = Field(validation_alias="has_legal_hold")
    legal_hold_reason: str | None
    legal_hold_at: datetime | None
    people: list[PersonRead]

    @field_validator("risk", mode="before")
    @classmethod
    def _risk_of_category(cls, category: str) -> str:
        return CATEGORY_RISK[category]

    @field_validator("is_restricted", mode="before")
    @classmethod
    def _restricted_category(cls, category: str) -> bool:
        return is_restricted(category)


class ActionCreate(_In):
    """One entry of the chronology; which fields it needs depends on its kind."""

    kind: ActionKind
    occurred_at: Rfc3339
    note: Text | None = None
    person_id: uuid.UUID | None = None
    sanction: Sanction | None = None
    access_removed_until: IsoDate | None = None
    referred_to: ReferralBody | None = None
    decision: ReferralDecision | None = None
    rationale: Text | None = None
    police_reference: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Self:
        needs: dict[str, tuple[str, ...]] = {
            "note": ("note",),
            "sanction": ("sanction", "person_id"),
            "referral_decision": ("referred_to", "decision", "rationale"),
            "parents_informed": (),
            "la_informed": (),
            "police_referral": ("police_reference",),
        }
        allowed: dict[str, set[str]] = {
            "note": {"note"},
            "sanction": {"sanction", "person_id", "access_removed_until", "note"},
            "referral_decision": {"referred_to", "decision", "rationale"},
            "parents_informed": {"person_id", "note"},
            "la_informed": {"note"},
            "police_referral": {"police_reference", "note"},
        }
        for name in needs[self.kind]:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.kind} needs {name}")
        extra = {n for n in self.model_fields_set if getattr(self, n) is not None}
        extra -= allowed[self.kind] | {"kind", "occurred_at"}
        if extra:
            raise ValueError(f"a {self.kind} does not take {', '.join(sorted(extra))}")
        if self.sanction == "access_removed" and self.access_removed_until is None:
            raise ValueError("removing internet or computer access needs access_removed_until (the period)")
        if self.access_removed_until is not None and self.sanction != "access_removed":
            raise ValueError("access_removed_until belongs to the access_removed sanction")
        return self


class ActionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    person_id: uuid.UUID | None
    sanction: str | None
    access_removed_until: date | None
    referred_to: str | None
    decision: str | None
    rationale: str | None
    police_reference: str | None
    note: str | None


class EvidenceCreate(_In):
    kind: EvidenceKind
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    stored_at: Annotated[str, Field(min_length=1, max_length=300)]
    held_by: ShortText
    sha256: Sha256 | None = None
    device_secured: bool = False
    handed_to_police_at: Rfc3339 | None = None
    police_reference: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _file_has_hash(self) -> Self:
        if self.kind in FILE_EVIDENCE_KINDS and self.sha256 is None:
            raise ValueError(f"evidence of kind {self.kind} needs the file's sha256")
        if self.kind not in FILE_EVIDENCE_KINDS and self.sha256 is not None:
            raise ValueError(f"evidence of kind {self.kind} is not a file; sha256 does not apply")
        if self.device_secured and self.kind != "device":
            raise ValueError("device_secured applies to evidence of kind device")
        return self


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    description: str
    stored_at: str
    held_by: str
    sha256: str | None
    device_secured: bool = Field(validation_alias="is_device_secured")
    handed_to_police_at: datetime | None
    police_reference: str | None
    recorded_at: datetime
    recorded_by: str


class PeopleAdd(_In):
    people: list[PersonIn] = Field(min_length=1, max_length=50)


class HistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]
