"""The never-publish flag as the safeguarding lead and the head teacher see it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class NeverPublishRead(BaseModel):
    pupil_id: uuid.UUID
    is_active: bool
    set_by: str | None
    set_at: datetime | None
    cleared_by: str | None
    cleared_at: datetime | None


class NeverPublishSet(BaseModel):
    """No reason is asked for or kept here: the why belongs in the safeguarding record."""

    model_config = ConfigDict(extra="forbid")


class FlaggedPupil(BaseModel):
    pupil_id: uuid.UUID
    given_name: str
    family_name: str
    year_group: str | None
    set_by: str
    set_at: datetime
