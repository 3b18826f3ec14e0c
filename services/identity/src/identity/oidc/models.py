"""Browser sessions, sign-ins in progress and authorization codes (all opaque values kept as digests)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.models import Base
from servicekit.db import IdMixin, UTCDateTime


class BrowserSession(IdMixin, Base):
    """A person signed in at identity in one browser: single sign-on for every client.

    Ends after 10 idle minutes (`last_seen_at`), 12 hours after sign-in (`expires_at`), or at
    sign-out (`ended_at`), which also revokes every refresh token issued within it.
    """

    __tablename__ = "browser_session"

    cookie_digest: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    # How the person proved who they are: ["pwd"] or ["pwd", "otp", "mfa"].
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingSignIn(IdMixin, Base):
    """An authorization request waiting for the person to sign in (the sign-in page's state).

    Bound to the browser that started it (`binding_digest`, a cookie) and carrying the CSRF token
    of its forms. After a right password for an account with two-factor on, `account_id` holds
    whose one-time code the second step asks for.
    """

    __tablename__ = "pending_signin"

    handle_digest: Mapped[str] = mapped_column(String(64), unique=True)
    binding_digest: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(100))
    oauth_client_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oauth_client.id"))
    # The validated request: redirect_uri, state, nonce, code_challenge, scope.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthorizationCode(IdMixin, Base):
    """A code handed to a client's redirect_uri; it works once, within a minute.

    `nonce` is unique per client: a replayed nonce is refused at the authorization request. A code
    used twice revokes what its first exchange issued: the refresh chain (`refresh_chain_id`) and,
    while they may still be accepted, the access tokens (the account's not-before moves).
    """

    __tablename__ = "authorization_code"
    __table_args__ = (Index("uq_authorization_code_client_nonce", "oauth_client_id", "nonce", unique=True),)

    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    oauth_client_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("oauth_client.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"))
    browser_session_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("browser_session.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(2000))
    nonce: Mapped[str] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_chain_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
