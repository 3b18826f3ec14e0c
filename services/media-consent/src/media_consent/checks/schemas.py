"""The consent check's request and answer, and the record of past checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from media_consent.consent.rules import Framing, MediaType, Purpose

Decision = Literal["allow", "deny"]


class ConsentCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    media_type: MediaType
    framing: Framing = Field(description="`group`, or `individual` (shown alone or named as the subject).")
    pupil_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)
    filename: str | None = Field(default=None, max_length=255)
    caption: str | None = Field(default=None, max_length=2000)


class PupilResult(BaseModel):
    pupil_id: uuid.UUID
    decision: Decision
    reason: str | None


class ConsentCheckRead(BaseModel):
    check_id: uuid.UUID
    decision: Decision
    results: list[PupilResult]
    checked_at: datetime
    receipt: str


class ConsentCheckRecordRead(BaseModel):
    """A past check, as the school shows what was checked."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    actor: str
    source: str
    purpose: str
    media_type: str
    framing: str
    pupil_ids: list[str]
    decision: str
    results: list[dict[str, Any]]
    checked_at: datetime
    request_id: str | None
