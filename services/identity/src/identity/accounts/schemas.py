"""Request and response bodies of the accounts API. No response ever carries a hash or a TOTP seed,
except the seed in the one response that creates (or re-enrols) it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from identity.security.passwords import MAX_LENGTH
from servicekit.params import Rfc3339

Role = Literal[
    "platform_admin",
    "head_teacher",
    "safeguarding_lead",
    "computing_lead",
    "office",
    "teacher",
    "governor",
    "parent",
    "pupil",
    "visitor",
    "la_officer",
]
Username = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@\-]*$")
Password = Field(min_length=1, max_length=MAX_LENGTH)
# An e-mail address, checked for shape only (the mail server is the judge of the rest).
EmailAddress = Annotated[
    str,
    Field(
        min_length=3, max_length=254, pattern=r"^[^@\s<>\x00-\x1f]+@[^@\s<>\x00-\x1f]+\.[^@\s<>\x00-\x1f]+$"
    ),
]


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None
    username: str = Username
    password: str = Password
    roles: list[Role] = Field(min_length=1, max_length=11)
    la_code: str | None = Field(default=None, pattern=r"^\d{3}$")
    expires_at: Rfc3339 | None = None
    # Where password-reset codes are sent; without one the office hands codes over.
    email: EmailAddress | None = None


class AccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    person_id: uuid.UUID | None
    school_id: uuid.UUID | None
    la_code: str | None
    username: str
    email: str | None
    roles: list[str]
    is_active: bool
    has_two_factor: bool
    expires_at: datetime | None
    not_before: datetime | None
    last_sign_in_at: datetime | None
    password_changed_at: datetime
    created_at: datetime
    updated_at: datetime


class TotpEnrolment(BaseModel):
    """A new TOTP seed, shown this once; put it in an authenticator app."""

    totp_secret: str
    otpauth_uri: str


class AccountCreated(AccountRead):
    totp_secret: str | None = None
    otpauth_uri: str | None = None


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(min_length=1, max_length=11)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Password
    new_password: str = Password


class TotpReenrol(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Password
    # A current code from the authenticator being replaced: required when the account has one
    # (a stolen token and password alone must not move someone's second factor).
    otp: str | None = Field(default=None, min_length=6, max_length=10)
