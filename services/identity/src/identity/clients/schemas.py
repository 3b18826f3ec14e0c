"""Request and response bodies of the OAuth clients API; the secret appears only when made or rotated."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    school_id: uuid.UUID | None = None
    la_code: str | None = Field(default=None, pattern=r"^\d{3}$")
    scopes: list[str] = Field(min_length=1, max_length=40)


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: str
    scopes: list[str]
    school_id: uuid.UUID | None
    la_code: str | None
    is_service: bool
    is_active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime


class ClientWithSecret(ClientRead):
    """Shown once: the secret is stored only as a digest."""

    client_secret: str | None = None
