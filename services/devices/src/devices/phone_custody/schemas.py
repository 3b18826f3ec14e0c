"""Request and response bodies of the phone custody API (CONTRACT.md, "Phones")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from devices.phone_custody.models import PhoneCustody, PhoneCustodyEvent

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Text5000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]

CustodyKind = Literal["daily_handin", "confiscation"]
CustodyStatus = Literal["held", "returned", "released", "handed_to_police"]
EventKind = Literal["received", "moved", "searched", "returned", "released", "handed_to_police"]
SearchOutcome = Literal["nothing_found", "content_deleted", "retained_as_evidence", "referred_to_police"]


class PhoneCustodyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pupil_id: uuid.UUID
    kind: CustodyKind
    description: Text500
    storage_location: Text200
    reason: Text2000 | None = None

    @model_validator(mode="after")
    def _confiscation_needs_reason(self) -> PhoneCustodyCreate:
        if self.kind == "confiscation" and not self.reason:
            raise ValueError("reason is required for a confiscation")
        return self


class PhoneReturn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_person_id: uuid.UUID
    note: Text2000 | None = None


class PhoneMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storage_location: Text200
    note: Text2000 | None = None


class PoliceHandover(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer_name: Text200
    police_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    note: Text2000 | None = None


class PhoneSearchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authorised_by: uuid.UUID
    reason: Text2000
    outcome: SearchOutcome
    findings: Text5000 | None = None


class PhoneCustodyEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: EventKind
    at: datetime
    by: str
    location: str | None
    to_person_id: uuid.UUID | None
    note: str | None


class PhoneCustodyRead(BaseModel):
    id: uuid.UUID
    school_id: uuid.UUID
    pupil_id: uuid.UUID
    kind: CustodyKind
    status: CustodyStatus
    description: str
    storage_location: str
    reason: str | None
    received_at: datetime
    received_by: str
    closed_at: datetime | None
    closed_to_person_id: uuid.UUID | None
    updated_at: datetime
    events: list[PhoneCustodyEventRead]

    @classmethod
    def of(cls, custody: PhoneCustody, *, show_searches: bool) -> PhoneCustodyRead:
        """Needs `show_searches` (the caller's role): search events only for the head and the DSL."""
        events: list[PhoneCustodyEvent] = [e for e in custody.events if show_searches or e.kind != "searched"]
        return cls(
            id=custody.id,
            school_id=custody.school_id,
            pupil_id=custody.pupil_id,
            kind=custody.kind,
            status=custody.status,
            description=custody.description,
            storage_location=custody.storage_location,
            reason=custody.reason,
            received_at=custody.received_at,
            received_by=custody.received_by,
            closed_at=custody.closed_at,
            closed_to_person_id=custody.closed_to_person_id,
            updated_at=custody.updated_at,
            events=[PhoneCustodyEventRead.model_validate(e) for e in events],
        )


class PhoneSearchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    custody_id: uuid.UUID
    authorised_by: uuid.UUID
    searched_by: str
    searched_at: datetime
    reason: str
    outcome: SearchOutcome
    findings: str | None


class EndOfDayRead(BaseModel):
    """What the office checks before it closes."""

    day: date
    confiscation_days: int
    daily_handins_held: list[PhoneCustodyRead]
    confiscations_held_over: list[PhoneCustodyRead]
