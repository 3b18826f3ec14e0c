"""Bodies of the reset-code and class-password routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from identity.accounts.schemas import Password


class ResetCodeIssued(BaseModel):
    """A single-use code to hand over in person, shown this once; it works on the reset page."""

    code: str
    expires_at: datetime
    url: str


class ClassPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Password
