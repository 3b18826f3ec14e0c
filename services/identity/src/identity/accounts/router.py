"""Accounts API: /v1/identity/users."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from identity.accounts import service as account_service
from identity.accounts.dependencies import (
    ManageableAccount,
    OwnAccount,
    ReadableAccount,
    holder_of_account,
)
from identity.accounts.schemas import (
    AccountCreate,
    AccountCreated,
    AccountRead,
    PasswordChange,
    PasswordReset,
    Role,
    RolesUpdate,
    TotpEnrolment,
    TotpReenrol,
)
from identity.schools.dependencies import NotPlatformAdmin, is_platform_admin
from identity.security import totp
from identity.security.state import SecurityDep, SecurityState
from servicekit.app import ClockDep
from servicekit.auth import Principal, Scoped
from servicekit.context import client_ip_var
from servicekit.db import SessionDep
from servicekit.errors import NotFound, TooManyRequests, Unprocessable
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, set_next_link
from servicekit.params import TEXT_PATTERN

router = APIRouter(prefix="/v1/identity/users", tags=["accounts"])

Writer = Annotated[Principal, Scoped("users:write")]
Reader = Annotated[Principal, Scoped("users:read")]


def _enrolment(seed: str | None, username: str) -> dict[str, str | None]:
    if seed is None:
        return {"totp_secret": None, "otpauth_uri": None}
    return {"totp_secret": seed, "otpauth_uri": totp.provisioning_uri(seed, username)}


@router.post("", status_code=201, response_model=AccountCreated)
async def create_account(
    body: AccountCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Create an account for a person (or a platform/LA account, platform administrators only)."""
    if idem.replay is not None:
        return idem.replay
    admin = is_platform_admin(principal)
    account_service.check_grant(body.roles, by_platform_admin=admin)
    person = await holder_of_account(session, principal, body.person_id)
    now = clock.now()
    expires_at = account_service.visitor_expiry(
        body.roles,
        body.expires_at,
        now=now,
        default=timedelta(hours=sec.settings.visitor_default_hours),
        maximum=timedelta(days=sec.settings.visitor_max_days),
    )
    account, seed = await account_service.create(
        session,
        body=body,
        person=person,
        expires_at=expires_at,
        seeds=sec.seeds,
        actor=principal,
        now=now,
        by_platform_admin=admin,
        email=body.email,
    )
    read = AccountRead.model_validate(account)
    # The replay kept for the Idempotency-Key never holds the seed: secrets are not stored in clear.
    replay = await idem.respond(AccountCreated(**read.model_dump()), status_code=201)
    if seed is None:
        return replay
    created = AccountCreated(**read.model_dump(), **_enrolment(seed, account.username))
    return Response(
        created.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("", response_model=Page[AccountRead])
async def list_accounts(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Reader,
    q: Annotated[
        str | None, Query(pattern=TEXT_PATTERN, max_length=100, description="Part of a username")
    ] = None,
    role: Role | None = None,
    is_active: bool | None = None,
    person_id: uuid.UUID | None = None,
    school_id: uuid.UUID | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[AccountRead]:
    """List and search the accounts the caller may manage."""
    if is_platform_admin(principal):
        scope_school = school_id
    elif principal.school_id is None or (school_id is not None and school_id != principal.school_id):
        raise NotFound("No such school.", slug="school-not-found")
    else:
        scope_school = principal.school_id
    rows, next_cursor = await account_service.list_accounts(
        session,
        school_id=scope_school,
        q=q,
        role=role,
        is_active=is_active,
        person_id=person_id,
        cursor=cursor,
        limit=limit,
    )
    set_next_link(request, response, next_cursor)
    return Page[AccountRead](items=[AccountRead.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.get("/me", response_model=AccountRead)
async def read_own_account(account: OwnAccount) -> AccountRead:
    """The caller's own account."""
    return AccountRead.model_validate(account)


async def _reserve_password_check(session: SessionDep, sec: SecurityState, username_key: str) -> None:
    """Every password check passes the sign-in throttle: the attempt is counted before verifying."""
    reservation = await sec.throttle.reserve(session, sec.signin_guards(username_key, client_ip_var.get()))
    if not reservation.allowed:
        raise TooManyRequests(
            f"Too many failed attempts; try again in {reservation.wait} seconds.",
            retry_after=reservation.wait,
        )


@router.post("/me/password", status_code=204)
async def change_own_password(
    body: PasswordChange,
    account: OwnAccount,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Change one's own password (every session ends; sign in again)."""
    now = clock.now()
    await _reserve_password_check(session, sec, account.username_key)
    await account_service.check_own_password(session, account, body.current_password, now=now)
    await sec.signin_succeeded(session, account.username_key, client_ip_var.get())
    await account_service.change_password(
        session, account, body.new_password, actor=f"user:{account.id}", now=now
    )
    sec.publish_not_before(account)
    return Response(status_code=204)


def _enrolment_response(seed: str, username: str) -> Response:
    enrolment = TotpEnrolment(totp_secret=seed, otpauth_uri=totp.provisioning_uri(seed, username))
    return Response(
        enrolment.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post("/me/totp", response_model=TotpEnrolment)
async def reenrol_own_totp(
    body: TotpReenrol,
    account: OwnAccount,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Replace one's own two-factor secret with the password and a current code (shown this once)."""
    now = clock.now()
    if account_service.totp_seed(account, sec.seeds) is not None and not body.otp:
        raise Unprocessable(
            "otp: a current code from your authenticator app is required (lost it? ask an administrator).",
            slug="otp-required",
        )
    await _reserve_password_check(session, sec, account.username_key)
    # A wrong password or code is refused and audited; the reserved attempt stays counted.
    await account_service.check_holder(
        session, account, password=body.password, otp=body.otp, seeds=sec.seeds, now=now
    )
    await sec.signin_succeeded(session, account.username_key, client_ip_var.get())
    new_seed = await account_service.reenrol_totp(
        session, account, seeds=sec.seeds, actor=f"user:{account.id}", now=now
    )
    return _enrolment_response(new_seed, account.username)


@router.get("/{account_id}", response_model=AccountRead)
async def read_account(account: ReadableAccount) -> AccountRead:
    """One account."""
    return AccountRead.model_validate(account)


@router.put("/{account_id}/roles", response_model=AccountCreated)
async def change_roles(
    body: RolesUpdate,
    account: ManageableAccount,
    session: SessionDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Replace an account's roles (its tokens stop working; a new two-factor secret if now needed)."""
    seed = await account_service.set_roles(
        session,
        account,
        body=body,
        seeds=sec.seeds,
        actor=principal,
        now=clock.now(),
        by_platform_admin=is_platform_admin(principal),
    )
    sec.publish_not_before(account)
    read = AccountRead.model_validate(account)
    out = AccountCreated(**read.model_dump(), **_enrolment(seed, account.username))
    return Response(
        out.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post("/{account_id}/deactivate", response_model=AccountRead)
async def deactivate_account(
    account: ManageableAccount,
    session: SessionDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> AccountRead:
    """Deactivate an account: no more sign-ins, its tokens stop working."""
    await account_service.set_active(session, account, False, actor=principal, now=clock.now())
    sec.publish_not_before(account)
    return AccountRead.model_validate(account)


@router.post("/{account_id}/activate", response_model=AccountRead)
async def activate_account(
    account: ManageableAccount,
    session: SessionDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> AccountRead:
    """Reactivate an account."""
    await account_service.set_active(session, account, True, actor=principal, now=clock.now())
    sec.publish_not_before(account)
    return AccountRead.model_validate(account)


@router.post("/{account_id}/password", status_code=204)
async def reset_password(
    body: PasswordReset,
    account: ManageableAccount,
    session: SessionDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Set a new password for an account (its sessions end)."""
    await account_service.reset_password(session, account, body=body, actor=principal, now=clock.now())
    sec.publish_not_before(account)
    return Response(status_code=204)


@router.post("/{account_id}/totp", response_model=TotpEnrolment)
async def reset_totp(
    account: ManageableAccount,
    session: SessionDep,
    principal: Writer,
    sec: SecurityDep,
    clock: ClockDep,
) -> Response:
    """Give an account a new two-factor secret, for a lost phone (platform administrators only)."""
    if not is_platform_admin(principal):
        raise NotPlatformAdmin("Only a platform administrator resets another account's two-factor.")
    # Whoever holds the old phone or a session made with it is signed out.
    seed = await account_service.reset_totp(
        session, account, seeds=sec.seeds, actor=principal, now=clock.now()
    )
    sec.publish_not_before(account)
    return _enrolment_response(seed, account.username)
