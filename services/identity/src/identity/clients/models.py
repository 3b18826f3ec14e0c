"""The oauth_client table: systems that sign in with client credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class OAuthClient(IdMixin, Base):
    """Bound to one school (`school_id`), to an LA (`la_code`: every school of it), or, for the
    platform's own services (`is_service`), to neither.
    """

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the secret; the secret itself is shown once, when made or rotated.
    secret_digest: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    school_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("school.id"), index=True)
    la_code: Mapped[str | None] = mapped_column(String(3), index=True)
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # OAuth grants it may use; clients made before OpenID Connect keep `password` (deprecated).
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["client_credentials"])
    # Exact URIs the authorization code may be sent to / a sign-out may return to.
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A public client (an app in the browser or on a phone) holds no secret; PKCE either way.
    is_confidential: Mapped[bool] = mapped_column(Boolean, default=True)
    # OIDC Back-Channel Logout 1.0: where identity POSTs a logout_token when a session it used ends.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))

    @property
    def password_grant_deprecated(self) -> bool:
        """It still has the password grant (RFC 9700: move to the authorization code flow)."""
        return "password" in self.grant_types

    @property
    def client_type(self) -> str:
        return "confidential" if self.is_confidential else "public"
