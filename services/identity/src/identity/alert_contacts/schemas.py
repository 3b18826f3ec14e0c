"""Alert preferences: the signed-in person's own, and the services' lookup."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servicekit.mail import parse_address


class AlertPreferences(BaseModel):
    """Where the caller's alerts go. No address: alerts are shown in the console only.

    Quiet hours (both or neither, school time, e.g. 18:00 to 07:00): an alert raised then is
    e-mailed when they end. Digest: alerts are gathered into one e-mail a day (07:30)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    email: str | None = Field(default=None, max_length=254, examples=["j.smith@school.example"])
    quiet_hours_start: time | None = Field(default=None, examples=["18:00"])
    quiet_hours_end: time | None = Field(default=None, examples=["07:00"])
    digest: bool = False

    @field_validator("email")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValueError("quiet_hours_start and quiet_hours_end are set together, or neither")
        return self


class ContactLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_ids: list[uuid.UUID] = Field(max_length=500)


class ContactRead(AlertPreferences):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    person_id: uuid.UUID


class ContactPage(BaseModel):
    items: list[ContactRead]
