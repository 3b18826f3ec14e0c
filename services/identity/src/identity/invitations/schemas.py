"""Request and response bodies of the invitations API. The code is in the create response only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from identity.accounts.schemas import EmailAddress
from identity.invitations.models import Invitation

InvitationStatus = Literal["pending", "used", "revoked", "expired"]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carer_id: uuid.UUID = Field(description="A carer (kind parent) with parental responsibility for a pupil")
    email: EmailAddress | None = Field(
        default=None, description="The carer's address, for password-reset codes later (optional)"
    )


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    school_id: uuid.UUID
    carer_id: uuid.UUID
    status: InvitationStatus
    email: str | None
    expires_at: datetime
    created_by: str
    created_at: datetime
    used_at: datetime | None
    account_id: uuid.UUID | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, invitation: Invitation, *, now: datetime) -> InvitationRead:
        """The invitation as it stands at `now` (a pending one past its expiry is `expired`)."""
        fields = {name: getattr(invitation, name) for name in cls.model_fields if name != "status"}
        return cls(**fields, status=invitation.status_at(now))


class InvitationCreated(InvitationRead):
    """The code and the page's link, shown this once: give them to the carer (letter, in person)."""

    code: str | None = None
    url: str | None = None
