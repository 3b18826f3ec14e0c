"""Request and response bodies of the acceptable-use agreements API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from identity.people.schemas import PersonKind, YearGroup
from servicekit.pagination import Page

# Every kind of person has an agreement of their own (the policy: staff, governors, pupils, parents;
# and visitors given temporary access).
Audience = Literal["staff", "pupil", "parent", "visitor", "governor"]


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]
    school_id: uuid.UUID | None = None


class AgreementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    school_id: uuid.UUID
    audience: Audience
    number: int
    title: str
    text: str
    published_at: datetime
    published_by: str


class SignatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None


class SignatureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version_id: uuid.UUID
    school_id: uuid.UUID
    person_id: uuid.UUID
    signed_by_person_id: uuid.UUID
    signed_at: datetime


class CurrentAgreement(BaseModel):
    """What one person has to sign now: their audience's current version, and their signature of it."""

    person_id: uuid.UUID
    version: AgreementRead
    signature: SignatureRead | None


class PersonBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: PersonKind
    given_name: str
    family_name: str
    year_group: YearGroup | None
    external_ref: str | None


class UnsignedPage(Page[PersonBrief]):
    """People of the audience, on roll, who have not signed the current version."""

    version_id: uuid.UUID
    version_number: int
