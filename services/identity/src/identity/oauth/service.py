"""Token issuance: client authentication, the grants of /oauth/token and revocation.

Every outcome of a sign-in (success, wrong password or client secret, unknown user, missing or wrong
code, throttled) is audited; a refused grant raises `OAuthError` after its audit entry is in the
session, and the route *returns* the error so the entry commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.clients import service as client_service
from identity.clients.models import OAuthClient
from identity.oauth.models import RefreshToken
from identity.people.models import Person
from identity.roles import TWO_FACTOR_ROLES, scopes_for_roles
from identity.security import passwords, totp
from identity.security.hashing import digest, new_token
from identity.security.state import SecurityState
from identity.security.throttle import Guard, Reservation
from servicekit import audit
from servicekit.jwt import ACCESS_TOKEN_TYPE

SIGN_IN_FAILED = "The username or password is wrong."


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: `error` code, a description for people, and the HTTP status."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


@dataclass
class IssuedTokens:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        return out


def _requested_scope(requested: str | None, allowed: frozenset[str] | set[str]) -> list[str]:
    if requested is None or not requested.strip():
        return sorted(allowed)
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise OAuthError("invalid_scope", "The requested scope is more than this caller may have.")
    return sorted(wanted)


def _sign(sec: SecurityState, claims: dict[str, Any], now: datetime, lifetime: int) -> str:
    settings = sec.settings
    body = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return sec.keys.signing_key().sign(body, typ=ACCESS_TOKEN_TYPE)


def account_token(
    sec: SecurityState, account: Account, scopes: list[str], *, now: datetime, ends_at: datetime
) -> tuple[str, int]:
    """An access token for a person's account, never outliving the session or the account."""
    limit = ends_at if account.expires_at is None else min(ends_at, account.expires_at)
    lifetime = max(1, min(sec.settings.access_token_seconds, int((limit - now).total_seconds())))
    claims: dict[str, Any] = {"sub": str(account.id), "scope": " ".join(scopes), "roles": account.roles}
    if account.person_id is not None:
        claims["person_id"] = str(account.person_id)
    if account.school_id is not None:
        claims["school_id"] = str(account.school_id)
    if account.la_code is not None:
        claims["la_code"] = account.la_code
    return _sign(sec, claims, now, lifetime), lifetime


def client_token(
    sec: SecurityState, client: OAuthClient, scopes: list[str], *, now: datetime
) -> tuple[str, int]:
    lifetime = sec.settings.access_token_seconds
    claims: dict[str, Any] = {
        "sub": f"client:{client.client_id}",
        "client_id": client.client_id,
        "scope": " ".join(scopes),
    }
    if client.school_id is not None:
        claims["school_id"] = str(client.school_id)
    if client.la_code is not None:
        claims["la_code"] = client.la_code
    return _sign(sec, claims, now, lifetime), lifetime


# --- the throttle ------------------------------------------------------------------------------


def throttled(wait: int) -> OAuthError:
    return OAuthError(
        "slow_down",
        f"Too many failed sign-ins; try again in {wait} seconds.",
        status=429,
        headers={"Retry-After": str(wait)},
    )


async def _reserve(
    session: AsyncSession,
    sec: SecurityState,
    guards: list[Guard],
    *,
    action: str,
    target_type: str,
    detail: dict[str, Any],
    now: datetime,
) -> Reservation:
    """Count the attempt before it is verified (concurrent guesses cannot overtake it), or refuse it.

    A refused attempt is audited once per back-off, not per request: a flood writes one entry.
    """
    reservation = await sec.throttle.reserve(session, guards)
    if not reservation.allowed:
        if reservation.started_block:
            await audit.record(
                session,
                actor="anonymous",
                action=action,
                target_type=target_type,
                detail={**detail, "retry_after": reservation.wait},
                at=now,
            )
        raise throttled(reservation.wait)
    return reservation


# --- client authentication ---------------------------------------------------------------------


def invalid_client() -> OAuthError:
    return OAuthError(
        "invalid_client",
        "Client authentication failed.",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="identity"'},
    )


async def authenticate_client(
    session: AsyncSession,
    sec: SecurityState,
    client_id: str,
    secret: str,
    *,
    source: str | None,
    now: datetime,
) -> OAuthClient:
    """The client with this id and secret, else invalid_client.

    Secret guesses pass the throttle (per address); a flood of them writes one audit entry per
    window, when its first failure happens, and one when the address is made to wait, with the count.
    """
    guards = sec.client_guards(source)
    window = sec.settings.signin_window_seconds
    reservation = await _reserve(
        session,
        sec,
        guards,
        action="signin.client_throttled",
        target_type="oauth_client",
        detail={"failures": guards[0].max_attempts, "window_seconds": window},
        now=now,
    )
    client = await client_service.authenticate(session, client_id, secret)
    if client is None:
        if reservation.attempts.get(guards[0].key) == 1:
            await audit.record(
                session,
                actor="anonymous",
                action="signin.client_failed",
                target_type="oauth_client",
                detail={"client_id": client_id[:100], "window_seconds": window},
                at=now,
            )
        raise invalid_client()
    await sec.throttle.succeeded(session, clear=[], release=[guards[0].key])
    return client


# --- client credentials ------------------------------------------------------------------------


def check_grant(client: OAuthClient | None, grant: str) -> None:
    """A client uses only the grants it was registered with (new clients never get `password`)."""
    if client is not None and grant not in client.grant_types:
        raise OAuthError("unauthorized_client", f"This client may not use the {grant} grant.")


async def client_credentials(
    session: AsyncSession, sec: SecurityState, client: OAuthClient, *, scope: str | None, now: datetime
) -> IssuedTokens:
    check_grant(client, "client_credentials")
    scopes = _requested_scope(scope, set(client.scopes))
    token, lifetime = client_token(sec, client, scopes, now=now)
    await audit.record(
        session,
        actor=f"client:{client.client_id}",
        action="signin.client_credentials",
        target_type="oauth_client",
        target_id=client.id,
        school_id=client.school_id,
        detail={"scope": scopes},
        at=now,
    )
    return IssuedTokens(token, lifetime, " ".join(scopes))


# --- password ----------------------------------------------------------------------------------


async def _failed(
    session: AsyncSession,
    *,
    username: str,
    account: Account | None,
    reason: str,
    now: datetime,
    description: str = SIGN_IN_FAILED,
) -> OAuthError:
    await audit.record(
        session,
        actor=f"user:{account.id}" if account else "anonymous",
        action="signin.failed",
        target_type="account",
        target_id=account.id if account else None,
        school_id=account.school_id if account else None,
        detail={"username": username[:100], "reason": reason},
        at=now,
    )
    return OAuthError("invalid_grant", description)


async def password_grant(
    session: AsyncSession,
    sec: SecurityState,
    *,
    username: str,
    password: str,
    otp: str | None,
    scope: str | None,
    source: str | None,
    now: datetime,
) -> IssuedTokens:
    # The attempt is counted before the password is verified: concurrent guesses cannot overtake it.
    user_key = account_service.username_key(username)
    guards = sec.signin_guards(user_key, source)
    await _reserve(
        session,
        sec,
        guards,
        action="signin.throttled",
        target_type="account",
        detail={"username": username[:100]},
        now=now,
    )
    account = await account_service.by_username(session, username)
    ok = await passwords.verify_password(password, account.password_hash if account else None)
    if account is None or not ok:
        # The reserved attempt stays counted: that is the failure.
        raise await _failed(
            session,
            username=username,
            account=account,
            reason="unknown_user" if account is None else "wrong_password",
            now=now,
        )

    async def right_password_refused(reason: str, description: str = SIGN_IN_FAILED) -> OAuthError:
        # The password was right: the attempt is given back (it was no guess).
        await sec.throttle.succeeded(session, clear=[], release=[g.key for g in guards])
        assert account is not None
        return await _failed(
            session, username=username, account=account, reason=reason, now=now, description=description
        )

    person = await session.get(Person, account.person_id) if account.person_id else None
    if not account_service.is_usable(account, person, now):
        # The password was right, but the answer is the same as for a wrong one.
        raise await right_password_refused("account_not_usable")
    seed = account_service.totp_seed(account, sec.seeds)
    if seed is None and not TWO_FACTOR_ROLES.isdisjoint(account.roles):
        raise await right_password_refused(
            "two_factor_not_enrolled",
            "Two-factor sign-in is not set up for this account; ask an administrator.",
        )
    if seed is not None:
        if not otp:
            raise await right_password_refused(
                "otp_required", "A one-time code (otp) from your authenticator app is required."
            )
        step = totp.accepted_step(seed, otp.strip(), now=now, last_step=account.totp_last_step)
        if step is None or not await account_service.claim_totp_step(session, account, step):
            # A wrong code counts as a failed guess (the reservation stays).
            raise await _failed(
                session,
                username=username,
                account=account,
                reason="wrong_or_reused_otp",
                now=now,
                description="The one-time code is wrong or has already been used.",
            )
    await sec.signin_succeeded(session, user_key, source)
    scopes = _requested_scope(scope, set(scopes_for_roles(account.roles)))
    account.last_sign_in_at = now
    tokens = await _start_session(session, sec, account, scopes, now=now)
    await audit.record(
        session,
        actor=f"user:{account.id}",
        action="signin.succeeded",
        target_type="account",
        target_id=account.id,
        school_id=account.school_id,
        detail={"username": account.username, "scope": scopes, "two_factor": seed is not None},
        at=now,
    )
    return tokens


# --- refresh tokens ----------------------------------------------------------------------------


async def _issue_refresh(
    session: AsyncSession,
    sec: SecurityState,
    account: Account,
    scopes: list[str],
    *,
    chain_id: uuid.UUID,
    started_at: datetime,
    now: datetime,
    oauth_client_id: uuid.UUID | None = None,
    browser_session_id: uuid.UUID | None = None,
) -> str:
    token = new_token("rt_")
    session_end = started_at + timedelta(seconds=sec.settings.session_max_seconds)
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            account_id=account.id,
            chain_id=chain_id,
            token_digest=digest(token),
            scope=" ".join(scopes),
            issued_at=now,
            session_started_at=started_at,
            expires_at=min(now + timedelta(seconds=sec.settings.refresh_idle_seconds), session_end),
            oauth_client_id=oauth_client_id,
            browser_session_id=browser_session_id,
        )
    )
    await session.flush()
    return token


async def _start_session(
    session: AsyncSession, sec: SecurityState, account: Account, scopes: list[str], *, now: datetime
) -> IssuedTokens:
    refresh = await _issue_refresh(
        session, sec, account, scopes, chain_id=uuid.uuid4(), started_at=now, now=now
    )
    ends = now + timedelta(seconds=sec.settings.session_max_seconds)
    access, lifetime = account_token(sec, account, scopes, now=now, ends_at=ends)
    return IssuedTokens(access, lifetime, " ".join(scopes), refresh)


async def revoke_chain(session: AsyncSession, chain_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.chain_id == chain_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def refresh_grant(
    session: AsyncSession,
    sec: SecurityState,
    *,
    refresh_token: str,
    scope: str | None,
    now: datetime,
    client: OAuthClient | None = None,
) -> IssuedTokens:
    """`client`: the client that authenticated (or the public client named); a token issued to a
    client by the authorization code flow is refreshed by that client only."""
    bad = OAuthError("invalid_grant", "The refresh token is not valid; sign in again.")
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest(refresh_token)))
    if row is None or row.revoked_at is not None:
        raise bad
    if row.oauth_client_id is not None and (client is None or client.id != row.oauth_client_id):
        raise bad
    account = await session.get(Account, row.account_id)
    if account is None:
        raise bad
    if row.used_at is not None:
        await _reused(session, row, account, now)
        raise bad
    if now >= row.expires_at:
        await audit.record(
            session,
            actor=f"user:{account.id}",
            action="signin.refresh_expired",
            target_type="account",
            target_id=account.id,
            school_id=account.school_id,
            detail={
                "idle": now < row.session_started_at + timedelta(seconds=sec.settings.session_max_seconds)
            },
            at=now,
        )
        raise bad
    person = await session.get(Person, account.person_id) if account.person_id else None
    if not account_service.is_usable(account, person, now) or (
        account.not_before is not None and row.session_started_at < account.not_before
    ):
        await revoke_chain(session, row.chain_id, now)
        raise bad
    # Spend it atomically: of two concurrent uses, only one wins; the other is a reuse.
    spent = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(spent, "rowcount", 0):
        await _reused(session, row, account, now)
        raise bad
    scopes = _requested_scope(scope, set(row.scope.split()))
    new_refresh = await _issue_refresh(
        session,
        sec,
        account,
        scopes,
        chain_id=row.chain_id,
        started_at=row.session_started_at,
        now=now,
        oauth_client_id=row.oauth_client_id,
        browser_session_id=row.browser_session_id,
    )
    ends = row.session_started_at + timedelta(seconds=sec.settings.session_max_seconds)
    access, lifetime = account_token(sec, account, scopes, now=now, ends_at=ends)
    await audit.record(
        session,
        actor=f"user:{account.id}",
        action="signin.refreshed",
        target_type="account",
        target_id=account.id,
        school_id=account.school_id,
        at=now,
    )
    return IssuedTokens(access, lifetime, " ".join(scopes), new_refresh)


async def _reused(session: AsyncSession, row: RefreshToken, account: Account, now: datetime) -> None:
    """A spent refresh token came back: someone else has a copy. End the whole chain."""
    await revoke_chain(session, row.chain_id, now)
    await audit.record(
        session,
        actor=f"user:{account.id}",
        action="signin.refresh_reused",
        target_type="account",
        target_id=account.id,
        school_id=account.school_id,
        detail={"chain_id": str(row.chain_id)},
        at=now,
    )


async def revoke(session: AsyncSession, *, token: str, now: datetime) -> None:
    """RFC 7009: revoking a refresh token ends its chain. Unknown tokens are quietly accepted;
    access tokens are not revocable one by one (they live at most 10 minutes).
    """
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest(token)))
    if row is None:
        return
    await revoke_chain(session, row.chain_id, now)
    account = await session.get(Account, row.account_id)
    await audit.record(
        session,
        actor=f"user:{row.account_id}",
        action="signin.revoked",
        target_type="account",
        target_id=row.account_id,
        school_id=account.school_id if account else None,
        at=now,
    )
