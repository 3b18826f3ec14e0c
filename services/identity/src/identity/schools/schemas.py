"""Request and response bodies of the schools API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

SchoolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# DfE Unique Reference Number: 6 digits. Local-authority code: 3 digits.
Urn = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$", max_length=6)]
LaCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$", max_length=3)]


class SchoolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SchoolName
    urn: Urn
    la_code: LaCode


class SchoolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SchoolName | None = None
    urn: Urn | None = None
    la_code: LaCode | None = None


class SchoolRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    urn: str
    la_code: str
    created_at: datetime
    updated_at: datetime
    version: int
