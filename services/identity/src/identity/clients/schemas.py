"""Request and response bodies of the OAuth clients API; the secret appears only when made or rotated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

GrantType = Literal["client_credentials", "authorization_code", "refresh_token"]
# An exact absolute URI (no fragment); https, or http on loopback (development, native apps).
RedirectUri = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s#]+$")]


def _default_grants() -> list[GrantType]:
    return ["client_credentials"]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    school_id: uuid.UUID | None = None
    la_code: str | None = Field(default=None, pattern=r"^\d{3}$")
    scopes: list[str] = Field(default_factory=list, max_length=40)
    grant_types: list[GrantType] = Field(default_factory=_default_grants, min_length=1, max_length=3)
    redirect_uris: list[RedirectUri] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[RedirectUri] = Field(default_factory=list, max_length=20)
    client_type: Literal["confidential", "public"] = "confidential"
    backchannel_logout_uri: RedirectUri | None = None

    @model_validator(mode="after")
    def _check_grants(self) -> Self:
        grants = set(self.grant_types)
        if "client_credentials" in grants and not self.scopes:
            raise ValueError("a client_credentials client needs at least one scope")
        if "authorization_code" in grants and not self.redirect_uris:
            raise ValueError("an authorization_code client needs redirect_uris")
        if "authorization_code" not in grants and (self.redirect_uris or self.post_logout_redirect_uris):
            raise ValueError("redirect_uris are for authorization_code clients")
        if self.backchannel_logout_uri and "authorization_code" not in grants:
            raise ValueError("backchannel_logout_uri is for authorization_code clients")
        if grants == {"refresh_token"}:
            raise ValueError("refresh_token goes with authorization_code")
        if self.client_type == "public" and "client_credentials" in grants:
            raise ValueError("a public client holds no secret: it cannot use client_credentials")
        return self

    @property
    def redirect_based(self) -> bool:
        return "authorization_code" in self.grant_types


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
    grant_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    client_type: str
    # Made before OpenID Connect: it still has the password grant, which RFC 9700 says must not be
    # used; move its users to the authorization code flow (docs/sso-integration.md).
    password_grant_deprecated: bool
    backchannel_logout_uri: str | None


class ClientWithSecret(ClientRead):
    """Shown once: the secret is stored only as a digest."""

    client_secret: str | None = None
