"""Refresh tokens: opaque, stored as a SHA-256 digest, one row per token of a sign-in's chain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class RefreshToken(IdMixin, Base):
    """Each use spends the token and issues the next of its chain; a spent token used again
    revokes the whole chain (someone else holds a copy).
    """

    __tablename__ = "refresh_token"
    __table_args__ = (
        Index("ix_refresh_token_chain", "chain_id"),
        Index("ix_refresh_token_browser_session", "browser_session_id"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    chain_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(2000))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the sign-in that started the chain happened: the absolute session limit counts from it.
    session_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Idle limit or the end of the session, whichever comes first.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Issued to a client by the authorization code flow, within a browser session (OpenID Connect).
    oauth_client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    browser_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
