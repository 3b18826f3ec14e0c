"""Server-side sessions: the browser holds only a random id in an HttpOnly cookie.

SECURITY.md "Browser sessions": ids rotate at sign-in; a session ends after 10 minutes idle or 12
hours in all, measured by the injected clock. Tokens live here, never in the browser.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from servicekit.clock import Clock
from servicekit.pages import new_csrf_token

COOKIE = "console_session"


@dataclass
class Session:
    id: str
    created_at: datetime
    last_seen: datetime
    csrf: str = field(default_factory=new_csrf_token)
    # Signed in: the person's tokens and who they are (from the token's claims and identity).
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    person: dict[str, Any] = field(default_factory=dict)
    # Between the sign-in redirect and the callback: state, nonce, PKCE verifier, where to go next.
    pending: dict[str, str] = field(default_factory=dict)
    # A one-time message for the next page (a confirmation).
    flash: dict[str, Any] | None = None
    # The header's count of unread staff alerts (console.alert_feed), and when it was counted.
    alerts_unread: int | None = None
    alerts_counted_at: datetime | None = None
    # The office's roll upload between its dry run and Apply (console.roll): the file as sent.
    roll_upload: dict[str, Any] | None = None

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None


class SessionStore:
    """In memory, per console process (run one console, or put sessions in Redis before scaling out)."""

    def __init__(self, clock: Clock, *, idle: timedelta, absolute: timedelta) -> None:
        self.clock = clock
        self.idle = idle
        self.absolute = absolute
        self._sessions: dict[str, Session] = {}

    def new(self) -> Session:
        now = self.clock.now()
        session = Session(id=secrets.token_urlsafe(32), created_at=now, last_seen=now)
        self._sessions[session.id] = session
        self._sweep(now)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle clock restarted); None when there is none or it ended."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self.clock.now()
        if now - session.last_seen > self.idle or now - session.created_at > self.absolute:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def rotate(self, session: Session) -> Session:
        """Sign-in: the same contents under a new id (a fixed id planted before sign-in is useless)."""
        self._sessions.pop(session.id, None)
        now = self.clock.now()
        session.id = secrets.token_urlsafe(32)
        session.csrf = new_csrf_token()
        session.created_at = now
        session.last_seen = now
        self._sessions[session.id] = session
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def _sweep(self, now: datetime) -> None:
        if len(self._sessions) % 256:
            return
        for sid, s in list(self._sessions.items()):
            if now - s.last_seen > self.idle or now - s.created_at > self.absolute:
                del self._sessions[sid]
