"""The OpenID Connect provider: authorization requests, sign-in steps, browser sessions, codes,
the authorization_code grant, id_token and logout.

Built on Authlib's OAuth 2.0 / OIDC pieces (PKCE S256 from `authlib.oauth2.rfc7636`, `at_hash` from
`authlib.oidc.core`) with the platform's own ES256 key store for the id_token; the password and
one-time-code checks are the password grant's (throttle, audit, identical wrong-user/password answer).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core.util import create_half_hash
from jose import jwt as jose_jwt
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts import service as account_service
from identity.accounts.claims import pupil_claims
from identity.accounts.models import Account
from identity.clients.models import OAuthClient
from identity.oauth import service as oauth_service
from identity.oauth.models import RefreshToken
from identity.oauth.service import SIGN_IN_FAILED, IssuedTokens, OAuthError
from identity.oidc.models import AuthorizationCode, BrowserSession, PendingSignIn
from identity.people.models import Person
from identity.roles import TWO_FACTOR_ROLES, scopes_for_roles
from identity.schools.models import School
from identity.security import passwords, totp
from identity.security.hashing import digest, new_token
from identity.security.state import SecurityState
from servicekit import audit, outbound
from servicekit.jwt import LEEWAY_SECONDS

log = logging.getLogger("identity.oidc")

OIDC_SCOPES = frozenset({"openid", "profile"})
CODE_SECONDS = 60
PENDING_SECONDS = 15 * 60
IDLE_SECONDS = 10 * 60  # SECURITY.md: the policy's lock-out
ID_TOKEN_SECONDS = 600
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


class PageError(Exception):
    """A request that must not redirect anywhere (unknown client, unregistered redirect_uri)."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__(text)
        self.title = title
        self.text = text


class RedirectError(Exception):
    """An RFC 6749 §4.1.2.1 error sent back to the client's registered redirect_uri."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri, self.state, self.error, self.description = redirect_uri, state, error, description


class SignInRefused(Exception):
    """A sign-in step that failed; `text` says what to do."""

    def __init__(self, text: str, *, field: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.field = field


@dataclass
class AuthorizationRequest:
    client: OAuthClient
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    scope: list[str]
    prompt: set[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "scope": self.scope,
        }


# --- the authorization request -------------------------------------------------------------------


async def client_for(session: AsyncSession, client_id: str | None) -> OAuthClient | None:
    if not client_id:
        return None
    client = await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or not client.is_active or "authorization_code" not in client.grant_types:
        return None
    return client


async def validate_request(session: AsyncSession, params: dict[str, str]) -> AuthorizationRequest:
    """The request, checked; PageError before the redirect_uri is trusted, RedirectError after."""
    client = await client_for(session, params.get("client_id"))
    if client is None:
        raise PageError(
            "This service is not known",
            "The service that sent you here is not registered with your school's sign-in. "
            "Go back and tell whoever runs it.",
        )
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            "This sign-in link is not valid",
            "The address the service asked to return to is not one registered for it, so you "
            "have not been sent back. Go back to the service and try again, or tell whoever runs it.",
        )
    state = params.get("state")

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, state, error, description)

    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "Only response_type=code is supported.")
    if not state:
        raise refuse("invalid_request", "state is required.")
    scope = (params.get("scope") or "").split()
    if "openid" not in scope:
        raise refuse("invalid_scope", "The scope must include openid.")
    if not set(scope) <= OIDC_SCOPES | set(client.scopes):
        raise refuse("invalid_scope", "The scope asks for more than this client may have.")
    challenge = params.get("code_challenge")
    if not challenge or params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256.")
    if not CHALLENGE.match(challenge):
        raise refuse("invalid_request", "code_challenge is not an S256 challenge.")
    nonce = params.get("nonce")
    if not nonce or len(nonce) > 255:
        raise refuse("invalid_request", "nonce is required (at most 255 characters).")
    used = await session.scalar(
        select(AuthorizationCode.id).where(
            AuthorizationCode.oauth_client_id == client.id, AuthorizationCode.nonce == nonce
        )
    )
    if used is not None:
        raise refuse("invalid_request", "This nonce was used before; send a new one.")
    prompt = set((params.get("prompt") or "").split())
    return AuthorizationRequest(client, redirect_uri, state, nonce, challenge, sorted(set(scope)), prompt)


# --- browser sessions ------------------------------------------------------------------------------


def session_is_live(row: BrowserSession | None, now: datetime) -> bool:
    return (
        row is not None
        and row.ended_at is None
        and now < row.expires_at
        and now < row.last_seen_at + timedelta(seconds=IDLE_SECONDS)
    )


async def live_session(
    session: AsyncSession, cookie: str | None, now: datetime
) -> tuple[BrowserSession, Account] | None:
    """The browser's session if it is still live, and its account if still usable."""
    if not cookie:
        return None
    row = await session.scalar(select(BrowserSession).where(BrowserSession.cookie_digest == digest(cookie)))
    if row is None or not session_is_live(row, now):
        return None
    account = await session.get(Account, row.account_id)
    if account is None or not await _usable(session, account, now):
        return None
    if account.not_before is not None and row.auth_time < account.not_before:
        return None
    return row, account


async def _usable(session: AsyncSession, account: Account, now: datetime) -> bool:
    person = await session.get(Person, account.person_id) if account.person_id else None
    return account_service.is_usable(account, person, now)


async def start_session(
    session: AsyncSession, account: Account, amr: list[str], *, previous: str | None, now: datetime
) -> tuple[BrowserSession, str]:
    """A new session (a new id at every sign-in); the browser's previous one ends."""
    if previous:
        await session.execute(
            update(BrowserSession)
            .where(BrowserSession.cookie_digest == digest(previous), BrowserSession.ended_at.is_(None))
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        )
    cookie = new_token("bs_")
    row = BrowserSession(
        id=uuid.uuid4(),
        cookie_digest=digest(cookie),
        account_id=account.id,
        amr=amr,
        auth_time=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=12),
    )
    session.add(row)
    await session.flush()
    return row, cookie


async def end_session(session: AsyncSession, row: BrowserSession, *, now: datetime) -> list[OAuthClient]:
    """Sign-out: the session ends and every refresh token issued in it is revoked; returns the
    clients it was used with."""
    row.ended_at = now
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.browser_session_id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    client_ids = set(
        (
            await session.scalars(
                select(AuthorizationCode.oauth_client_id).where(
                    AuthorizationCode.browser_session_id == row.id
                )
            )
        ).all()
    )
    clients = [c for c in [await session.get(OAuthClient, i) for i in client_ids] if c is not None]
    await audit.record(
        session,
        actor=f"user:{row.account_id}",
        action="signin.session_ended",
        target_type="account",
        target_id=row.account_id,
        detail={"session_id": str(row.id), "clients": sorted(c.client_id for c in clients)},
        at=now,
    )
    await session.flush()
    return clients


async def end_session_of_cookie(
    session: AsyncSession, sec: SecurityState, cookie: str, *, now: datetime
) -> list[str]:
    """Sign-out of this browser's session; tells each client it was used with that has a
    back-channel logout URI. Returns the client ids told."""
    row = await session.scalar(select(BrowserSession).where(BrowserSession.cookie_digest == digest(cookie)))
    if row is None or row.ended_at is not None:
        return []
    clients = await end_session(session, row, now=now)
    return await notify_logout(sec, clients, row, now=now)


BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(sec: SecurityState, client: OAuthClient, row: BrowserSession, now: datetime) -> str:
    """OIDC Back-Channel Logout 1.0 §2.4: who (sub), which session (sid), no nonce."""
    claims = {
        "iss": sec.settings.issuer,
        "aud": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 120,
        "jti": uuid.uuid4().hex,
        "sub": str(row.account_id),
        "sid": str(row.id),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return sec.keys.signing_key().sign(claims, typ="logout+jwt")


async def notify_logout(
    sec: SecurityState, clients: list[OAuthClient], row: BrowserSession, *, now: datetime
) -> list[str]:
    """POST each client's logout_token to its back-channel logout URI, checked again now by the
    outbound guard (servicekit.outbound: a name that resolves to a private address by now is not
    called) and sent to the checked address, with short timeouts and no redirect followed.
    Returns the client ids that answered 2xx; every other outcome is logged."""
    told: list[str] = []
    calls = [c for c in clients if c.backchannel_logout_uri]
    if not calls:
        return told
    settings = sec.settings
    async with outbound.client(
        connect_timeout=settings.backchannel_connect_timeout_seconds,
        timeout=settings.backchannel_timeout_seconds,
    ) as http:
        for client in calls:
            assert client.backchannel_logout_uri is not None
            try:
                target = await sec.check_backchannel(client.backchannel_logout_uri)
                body = urlencode({"logout_token": logout_token(sec, client, row, now)}).encode()
                answer = await outbound.post(
                    http, target, body=body, headers={}, content_type="application/x-www-form-urlencoded"
                )
            except outbound.TargetRefused as exc:
                log.warning("back-channel logout to %s not sent: target refused: %s", client.client_id, exc)
                continue
            except httpx.HTTPError as exc:
                log.warning("back-channel logout to %s failed: %s", client.client_id, type(exc).__name__)
                continue
            if answer.is_success:
                told.append(client.client_id)
            elif 300 <= answer.status_code < 400:
                log.warning("back-channel logout to %s: redirect not followed", client.client_id)
            else:
                log.warning("back-channel logout to %s: status %s", client.client_id, answer.status_code)
    return told


# --- sign-ins in progress --------------------------------------------------------------------------


async def start_pending(
    session: AsyncSession, request: AuthorizationRequest, *, binding: str, csrf: str, now: datetime
) -> str:
    handle = new_token("sr_")
    session.add(
        PendingSignIn(
            id=uuid.uuid4(),
            handle_digest=digest(handle),
            binding_digest=digest(binding),
            csrf_token=csrf,
            oauth_client_id=request.client.id,
            request=request.as_json(),
            account_id=None,
            created_at=now,
            expires_at=now + timedelta(seconds=PENDING_SECONDS),
        )
    )
    await session.flush()
    return handle


async def pending_for(
    session: AsyncSession, handle: str | None, binding: str | None, now: datetime
) -> PendingSignIn | None:
    """The sign-in in progress, only for the browser that started it and only while it is open."""
    if not handle or not binding:
        return None
    row = await session.scalar(select(PendingSignIn).where(PendingSignIn.handle_digest == digest(handle)))
    if row is None or row.completed_at is not None or now >= row.expires_at:
        return None
    if row.binding_digest != digest(binding):
        return None
    return row


async def school_name_for(
    session: AsyncSession, client: OAuthClient | None, account: Account | None = None
) -> str | None:
    school_id = (account.school_id if account else None) or (client.school_id if client else None)
    school = await session.get(School, school_id) if school_id else None
    return school.name if school else None


def _throttled_text(wait: int) -> str:
    minutes = max(1, (wait + 59) // 60)
    return (
        f"There have been too many failed attempts to sign in. Wait {minutes} minute"
        f"{'s' if minutes != 1 else ''} and try again. "
        "If you have forgotten your password, ask your school office."
    )


async def password_step(
    session: AsyncSession,
    sec: SecurityState,
    pending: PendingSignIn,
    *,
    username: str,
    password: str,
    source: str | None,
    now: datetime,
) -> tuple[Account, bool]:
    """Step one. Returns the account and whether a one-time code must follow; else SignInRefused.

    The same throttle and audit as the password grant; an unknown user and a wrong password get
    the same answer."""
    user_key = account_service.username_key(username)
    guards = sec.signin_guards(user_key, source)
    try:
        await oauth_service._reserve(
            session,
            sec,
            guards,
            action="signin.throttled",
            target_type="account",
            detail={"username": username[:100]},
            now=now,
        )
    except OAuthError as exc:
        raise SignInRefused(_throttled_text(int(exc.headers.get("Retry-After", "60")))) from exc
    account = await account_service.by_username(session, username)
    ok = await passwords.verify_password(password, account.password_hash if account else None)
    wrong = f"{SIGN_IN_FAILED} Check them and try again."
    if account is None or not ok:
        await oauth_service._failed(
            session,
            username=username,
            account=account,
            reason="unknown_user" if account is None else "wrong_password",
            now=now,
        )
        raise SignInRefused(wrong, field="username")
    # The password was right: the attempt is given back (it was no guess).
    await sec.throttle.succeeded(session, clear=[], release=[g.key for g in guards])

    async def refused(reason: str, text: str) -> SignInRefused:
        assert account is not None
        await oauth_service._failed(session, username=username, account=account, reason=reason, now=now)
        return SignInRefused(text)

    if not await _usable(session, account, now):
        raise await refused("account_not_usable", wrong)
    client = await session.get(OAuthClient, pending.oauth_client_id)
    if client is not None and client.school_id is not None and client.school_id != account.school_id:
        raise await refused("other_school", wrong)
    seed = account_service.totp_seed(account, sec.seeds)
    if seed is None and not TWO_FACTOR_ROLES.isdisjoint(account.roles):
        raise await refused(
            "two_factor_not_enrolled",
            "Two-factor sign-in is not set up for your account yet. "
            "Ask your school's administrator to set it up.",
        )
    if seed is None:
        await sec.signin_succeeded(session, user_key, source)
        return account, False
    pending.account_id = account.id
    await session.flush()
    return account, True


async def otp_step(
    session: AsyncSession,
    sec: SecurityState,
    pending: PendingSignIn,
    *,
    otp: str,
    source: str | None,
    now: datetime,
) -> Account:
    """Step two: the one-time code of the account whose password was right."""
    account = await session.get(Account, pending.account_id) if pending.account_id else None
    if account is None:
        raise SignInRefused("Start again: enter your username and password.")
    guards = sec.signin_guards(account.username_key, source)
    try:
        await oauth_service._reserve(
            session,
            sec,
            guards,
            action="signin.throttled",
            target_type="account",
            detail={"username": account.username},
            now=now,
        )
    except OAuthError as exc:
        raise SignInRefused(_throttled_text(int(exc.headers.get("Retry-After", "60")))) from exc
    seed = account_service.totp_seed(account, sec.seeds)
    code = otp.strip().replace(" ", "")
    step = totp.accepted_step(seed, code, now=now, last_step=account.totp_last_step) if seed else None
    if step is None or not await account_service.claim_totp_step(session, account, step):
        await oauth_service._failed(
            session, username=account.username, account=account, reason="wrong_or_reused_otp", now=now
        )
        raise SignInRefused(
            "The code is wrong or has already been used. Enter the 6-digit code your authenticator app "
            "shows now.",
            field="otp",
        )
    await sec.signin_succeeded(session, account.username_key, source)
    return account


async def signed_in(session: AsyncSession, account: Account, *, two_factor: bool, now: datetime) -> None:
    account.last_sign_in_at = now
    await audit.record(
        session,
        actor=f"user:{account.id}",
        action="signin.succeeded",
        target_type="account",
        target_id=account.id,
        school_id=account.school_id,
        detail={"username": account.username, "two_factor": two_factor, "flow": "authorization_code"},
        at=now,
    )


async def page_subjects(
    session: AsyncSession, pending: PendingSignIn
) -> tuple[OAuthClient | None, Account | None, str | None]:
    """What the sign-in page shows: the client, the account at the code step, the school's name."""
    client = await session.get(OAuthClient, pending.oauth_client_id)
    account = await session.get(Account, pending.account_id) if pending.account_id else None
    return client, account, await school_name_for(session, client, account)


async def complete_sign_in(
    session: AsyncSession,
    pending: PendingSignIn,
    account: Account,
    amr: list[str],
    *,
    previous_cookie: str | None,
    now: datetime,
) -> tuple[str, str]:
    """The person proved who they are: a new browser session and the code for the client.
    Returns the code and the session's cookie value."""
    browser, cookie = await start_session(session, account, amr, previous=previous_cookie, now=now)
    await signed_in(session, account, two_factor="otp" in amr, now=now)
    client = await session.get(OAuthClient, pending.oauth_client_id)
    if client is None:
        raise SignInRefused("This service is no longer registered.")
    code = await issue_code(session, browser, client, pending.request, now)
    pending.completed_at = now
    return code, cookie


# --- codes -----------------------------------------------------------------------------------------


async def issue_code(
    session: AsyncSession,
    browser: BrowserSession,
    client: OAuthClient,
    request: dict[str, Any],
    now: datetime,
) -> str:
    code = new_token("ac_")
    session.add(
        AuthorizationCode(
            id=uuid.uuid4(),
            code_digest=digest(code),
            oauth_client_id=client.id,
            account_id=browser.account_id,
            browser_session_id=browser.id,
            redirect_uri=request["redirect_uri"],
            scope=" ".join(request["scope"]),
            nonce=request["nonce"],
            code_challenge=request["code_challenge"],
            created_at=now,
            expires_at=now + timedelta(seconds=CODE_SECONDS),
        )
    )
    browser.last_seen_at = now
    await session.flush()
    return code


def _id_token(
    sec: SecurityState,
    *,
    client: OAuthClient,
    account: Account,
    person: Person | None,
    browser: BrowserSession,
    scopes: list[str],
    nonce: str,
    access_token: str,
    now: datetime,
) -> str:
    claims: dict[str, Any] = {
        "iss": sec.settings.issuer,
        "sub": str(account.id),
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ID_TOKEN_SECONDS,
        "auth_time": int(browser.auth_time.timestamp()),
        "nonce": nonce,
        "sid": str(browser.id),
        "amr": browser.amr,
        "at_hash": create_half_hash(access_token, "ES256").decode(),
        "roles": account.roles,
    }
    if account.school_id is not None:
        claims["school_id"] = str(account.school_id)
    # A pupil's year group, which the MLE needs (accounts/claims.py: only id, school, roles, year).
    claims.update(pupil_claims(account, person))
    claims.update(profile_claims(account, person, scopes))
    return sec.keys.signing_key().sign(claims, typ="JWT")


def profile_claims(account: Account, person: Person | None, scopes: list[str] | set[str]) -> dict[str, Any]:
    if "profile" not in scopes:
        return {}
    out: dict[str, Any] = {"preferred_username": account.username}
    if person is not None:
        out |= {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "name": f"{person.given_name} {person.family_name}",
        }
    return out


async def _revoke_replayed(
    session: AsyncSession, sec: SecurityState, row: AuthorizationCode, used_at: datetime, now: datetime
) -> bool:
    """A code used again (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.5): whoever replays it may not
    be whoever exchanged it first, so what that exchange issued is revoked. Its refresh chain ends.
    Access tokens are not revocable one by one: while one issued from the code (or from its chain's
    refreshes) may still be accepted, the account's not-before moves past it, which ends every
    token and session of the account (identity at once, the other services through the feed).
    Returns whether it moved. A replay after the last of those access tokens has expired only
    ends the chain, so an old code seen in a log cannot sign the person out everywhere."""
    last_issued = used_at
    if row.refresh_chain_id is not None:
        newest = await session.scalar(
            select(func.max(RefreshToken.issued_at)).where(RefreshToken.chain_id == row.refresh_chain_id)
        )
        if newest is not None:
            last_issued = max(last_issued, newest)
        await oauth_service.revoke_chain(session, row.refresh_chain_id, now)
    accepted_until = last_issued + timedelta(seconds=sec.settings.access_token_seconds + LEEWAY_SECONDS)
    account = await session.get(Account, row.account_id)
    if account is None or now >= accepted_until:
        return False
    # Past the newest token's `iat` (whole seconds), even when the replay comes within its second.
    after_newest = account_service.cutoff(last_issued) + timedelta(seconds=1)
    await account_service.end_every_token(session, account, now, at_least=after_newest)
    sec.publish_not_before(account)
    return True


async def exchange_code(
    session: AsyncSession,
    sec: SecurityState,
    client: OAuthClient,
    *,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    now: datetime,
) -> tuple[IssuedTokens, str]:
    """The authorization_code grant: tokens and the id_token; a second use revokes the first's."""
    bad = OAuthError("invalid_grant", "The authorization code is not valid.")
    row = await session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_digest == digest(code)))
    if row is None or row.oauth_client_id != client.id:
        raise bad
    if row.used_at is not None:
        access_revoked = await _revoke_replayed(session, sec, row, row.used_at, now)
        await audit.record(
            session,
            actor=f"client:{client.client_id}",
            action="signin.code_reused",
            target_type="account",
            target_id=row.account_id,
            detail={"client_id": client.client_id, "access_tokens_revoked": access_revoked},
            at=now,
        )
        raise bad
    if now >= row.expires_at or redirect_uri != row.redirect_uri:
        raise bad
    if not code_verifier or not VERIFIER.match(code_verifier):
        raise OAuthError("invalid_grant", "code_verifier is missing or malformed.")
    if create_s256_code_challenge(code_verifier) != row.code_challenge:
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")
    spent = await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(spent, "rowcount", 0):
        raise bad
    account = await session.get(Account, row.account_id)
    browser = await session.get(BrowserSession, row.browser_session_id)
    if (
        account is None
        or browser is None
        or browser.ended_at is not None
        or not await _usable(session, account, now)
    ):
        raise bad
    person = await session.get(Person, account.person_id) if account.person_id else None
    scopes = row.scope.split()
    api_scopes = sorted(set(scopes) & set(scopes_for_roles(account.roles)) & set(client.scopes))
    granted = sorted(set(scopes) & OIDC_SCOPES) + api_scopes
    ends = browser.auth_time + timedelta(seconds=sec.settings.session_max_seconds)
    access, lifetime = oauth_service.account_token(sec, account, granted, now=now, ends_at=ends)
    refresh: str | None = None
    if "refresh_token" in client.grant_types:
        chain = uuid.uuid4()
        refresh = await oauth_service._issue_refresh(
            session,
            sec,
            account,
            granted,
            chain_id=chain,
            started_at=browser.auth_time,
            now=now,
            oauth_client_id=client.id,
            browser_session_id=browser.id,
        )
        row.refresh_chain_id = chain
    id_token = _id_token(
        sec,
        client=client,
        account=account,
        person=person,
        browser=browser,
        scopes=scopes,
        nonce=row.nonce,
        access_token=access,
        now=now,
    )
    await session.flush()
    return IssuedTokens(access, lifetime, " ".join(granted), refresh), id_token


# --- userinfo and logout ---------------------------------------------------------------------------


async def userinfo(session: AsyncSession, subject: str, scopes: frozenset[str]) -> dict[str, Any] | None:
    try:
        account = await session.get(Account, uuid.UUID(subject))
    except ValueError:
        return None
    if account is None:
        return None
    person = await session.get(Person, account.person_id) if account.person_id else None
    out: dict[str, Any] = {"sub": str(account.id), "roles": account.roles}
    if account.school_id is not None:
        out["school_id"] = str(account.school_id)
    return out | pupil_claims(account, person) | profile_claims(account, person, set(scopes))


def read_id_token_hint(sec: SecurityState, token: str) -> dict[str, Any] | None:
    """An id_token this provider issued (expired ones too: a hint, not a credential)."""
    try:
        kid = jose_jwt.get_unverified_header(token).get("kid")
        key = next((k for k in sec.keys.jwks() if k.get("kid") == kid), None)
        if key is None:
            return None
        claims: dict[str, Any] = jose_jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            issuer=sec.settings.issuer,
            options={"verify_aud": False, "verify_exp": False, "verify_at_hash": False},
        )
    except Exception:  # noqa: BLE001 - any unreadable hint is no hint
        return None
    return claims
