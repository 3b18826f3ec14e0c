"""Request and response models of consent records, withdrawals, the change feed and the views."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from media_consent.consent.rules import MEDIA_TYPES, PURPOSES, Level, MediaType, Purpose, pair_key
from servicekit.params import IsoDate

if TYPE_CHECKING:
    from media_consent.consent.models import ConsentCurrent
    from servicekit.models import ReplicaPerson


class Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    media_type: MediaType
    level: Level


def _unique_pairs(grants: list[Grant]) -> list[Grant]:
    seen: set[tuple[str, str]] = set()
    for grant in grants:
        pair = (grant.purpose, grant.media_type)
        if pair in seen:
            raise ValueError(f"{grant.purpose}/{grant.media_type} is listed twice")
        seen.add(pair)
    return grants


class ConsentRecordCreate(BaseModel):
    """A consent form: by the office or the head from paper, or by a parent signed in."""

    model_config = ConfigDict(extra="forbid")

    pupil_id: uuid.UUID
    given_by: uuid.UUID = Field(description="A carer with parental responsibility for the pupil.")
    grants: list[Grant] = Field(max_length=14, description="Pairs not listed are `none`.")
    valid_until: IsoDate | None = Field(default=None, description="The last day the consent holds.")
    form_dated_on: IsoDate | None = Field(
        default=None, description="The date on the paper form (required when staff enter a form)."
    )
    collected_by: uuid.UUID | None = Field(
        default=None, description="The member of staff who collected the form (default: the caller)."
    )

    @model_validator(mode="after")
    def _check(self) -> ConsentRecordCreate:
        _unique_pairs(self.grants)
        return self


class OwnConsentCreate(BaseModel):
    """A parent's own consent for their child (given by the signed-in parent)."""

    model_config = ConfigDict(extra="forbid")

    grants: list[Grant] = Field(max_length=14)
    valid_until: IsoDate | None = None

    @model_validator(mode="after")
    def _check(self) -> OwnConsentCreate:
        _unique_pairs(self.grants)
        return self


class WithdrawalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given_by: uuid.UUID = Field(description="A carer of the pupil.")
    purposes: list[Purpose] | None = Field(
        default=None, min_length=1, max_length=7, description="Omitted: every purpose."
    )


class OwnWithdrawalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: list[Purpose] | None = Field(default=None, min_length=1, max_length=7)


class GrantRead(BaseModel):
    purpose: str
    media_type: str
    level: str


def _every_pair(grants: Any) -> Any:
    """A row's `{"<purpose>/<media_type>": level}` as every pair in order, an unlisted pair `none`."""
    if not isinstance(grants, dict):
        return grants
    return [
        GrantRead(purpose=p, media_type=m, level=grants.get(pair_key(p, m), "none"))
        for p in PURPOSES
        for m in MEDIA_TYPES
    ]


# Read from a row's grants column (a dict): published as the list of every pair.
Grants = Annotated[list[GrantRead], BeforeValidator(_every_pair)]


class ConsentVersionRead(BaseModel):
    # `ConsentVersionRead.model_validate(row)`. (A docstring here would change the published OpenAPI.)
    model_config = ConfigDict(from_attributes=True)

    version: int
    kind: str
    grants: Grants
    withdrawn_purposes: list[str]
    valid_until: date | None
    given_by: uuid.UUID
    source: str
    form_dated_on: date | None
    collected_by: uuid.UUID | None
    recorded_by: str
    recorded_at: datetime


class CurrentConsent(BaseModel):
    version: int
    grants: Grants
    withdrawn_purposes: list[str]
    valid_until: date | None
    is_expired: bool
    updated_at: datetime

    @classmethod
    def of(cls, row: ConsentCurrent, *, today: date) -> CurrentConsent:
        """Needs `today`: `is_expired` is the row's `valid_until` against the caller's day."""
        return cls(
            version=row.version,
            grants=row.grants,
            withdrawn_purposes=list(row.withdrawn_purposes),
            valid_until=row.valid_until,
            is_expired=row.valid_until is not None and today > row.valid_until,
            updated_at=row.updated_at,
        )


class PupilConsentRead(BaseModel):
    pupil_id: uuid.UUID
    school_id: uuid.UUID
    given_name: str
    family_name: str
    year_group: str | None
    is_on_roll: bool
    current: CurrentConsent | None
    versions: list[ConsentVersionRead]
    never_publish: bool | None = Field(
        default=None, description="Shown only to the safeguarding lead and the head teacher."
    )


class ConsentRecordRead(BaseModel):
    """The version just created."""

    # `ConsentRecordRead.model_validate(version_row)`: the row carries its pupil and school.

    pupil_id: uuid.UUID
    school_id: uuid.UUID
    version: ConsentVersionRead

    @model_validator(mode="before")
    @classmethod
    def _of_version_row(cls, data: Any) -> Any:
        # The row itself is the nested `version`.
        if isinstance(data, dict):
            return data
        return {"pupil_id": data.pupil_id, "school_id": data.school_id, "version": data}


class ChangeRead(BaseModel):
    pupil_id: uuid.UUID
    version: int
    changed_at: datetime
    kind: str
    seq: int


class PupilSummary(BaseModel):
    # Read from a replica person (its `id`) by model_validate, or built with pupil_id=.
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    pupil_id: uuid.UUID = Field(validation_alias=AliasChoices("pupil_id", "id"))
    given_name: str
    family_name: str
    year_group: str | None


class ExpiringConsent(PupilSummary):
    version: int
    valid_until: date

    @classmethod
    def of(cls, pupil: ReplicaPerson, current: ConsentCurrent, *, valid_until: date) -> ExpiringConsent:
        """Needs two rows: the pupil (replica) and their current consent, which ends on `valid_until`."""
        return cls(
            pupil_id=pupil.id,
            given_name=pupil.given_name,
            family_name=pupil.family_name,
            year_group=pupil.year_group,
            version=current.version,
            valid_until=valid_until,
        )


class GroupPhotoEntry(PupilSummary):
    may_appear: bool
    reason: str | None


class GroupPhotoView(BaseModel):
    year_group: str
    purpose: str
    media_type: str
    checked_at: datetime
    pupils: list[GroupPhotoEntry]
