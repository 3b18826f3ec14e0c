"""Accounts: create, find, change roles, (de)activate, passwords, two-factor, not-before.

Plain functions taking the session; they flush, never commit. Each change is audited here, beside
it, with the `actor` the caller passes; every change that other services must see (not-before,
active, roles) is recorded on identity's people feed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts.models import Account
from identity.accounts.schemas import AccountCreate, PasswordReset, RolesUpdate
from identity.changes import service as change_service
from identity.oauth.models import RefreshToken
from identity.people.models import Person
from identity.roles import TWO_FACTOR_ROLES
from identity.security import passwords, totp
from identity.security.hashing import SeedBox
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, Unprocessable
from servicekit.pagination import paginate

# Roles that belong to no school (and to no person record).
PLATFORM_ROLES = frozenset({"platform_admin", "la_officer"})
STAFF_ROLES = frozenset({"head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher"})
# Roles only a platform administrator grants: the platform's own, and the two that read restricted
# incidents (a head who could make a second head could read the allegations against themselves).
ADMIN_GRANTED_ROLES = PLATFORM_ROLES | {"head_teacher", "safeguarding_lead"}
# Which kinds of person may hold a role: a pupil's account can never become a teacher's.
ROLE_KINDS: dict[str, frozenset[str]] = {
    **{role: frozenset({"staff"}) for role in STAFF_ROLES},
    "governor": frozenset({"governor", "staff", "parent"}),
    "parent": frozenset({"parent", "staff", "governor"}),
    "pupil": frozenset({"pupil"}),
    "visitor": frozenset({"visitor"}),
}


class UsernameTaken(Conflict):
    slug = "username-taken"


class RoleNotGrantable(Forbidden):
    slug = "role-not-grantable"


class StaffAccountExists(Conflict):
    slug = "staff-account-exists"


class RolesRefused(Unprocessable):
    slug = "roles-refused"


class WeakPassword(Unprocessable):
    slug = "password-policy"


def username_key(username: str) -> str:
    return username.strip().lower()


def set_email(account: Account, email: str | None) -> None:
    """Where the account's password-reset codes go (None: handed over by the office only)."""
    account.email = email.strip() if email else None
    account.email_key = account.email.lower() if account.email else None


# Key stage 1 and below (nursery, reception, years 1 and 2): their accounts may be class-managed.
# From Year 3 pupils use a personal password (the e-safety policy, "Safe Network Usage").
CLASS_MANAGED_YEARS = frozenset({"N", "R", "1", "2"})


def is_class_managed(account: Account, person: Person | None) -> bool:
    """A pupil's account below Year 3: the teacher or office sets its password; no self-service."""
    return (
        "pupil" in account.roles
        and person is not None
        and person.kind == "pupil"
        and person.year_group in CLASS_MANAGED_YEARS
    )


def cutoff(now: datetime) -> datetime:
    """A not-before in whole seconds, as token `iat`s are, so a token issued just after is kept."""
    return now.replace(microsecond=0)


def needs_two_factor(roles: Sequence[str]) -> bool:
    return not TWO_FACTOR_ROLES.isdisjoint(roles)


def check_roles(roles: Sequence[str], person: Person | None, la_code: str | None) -> None:
    """Roles must fit the holder: platform roles have no person; school roles fit the person's kind."""
    unique = set(roles)
    if len(unique) != len(roles):
        raise RolesRefused("A role is listed twice.")
    platform = unique & PLATFORM_ROLES
    if platform:
        if len(unique) != 1:
            raise RolesRefused("platform_admin and la_officer are held alone, without other roles.")
        if person is not None:
            raise RolesRefused("platform_admin and la_officer accounts belong to no person or school.")
        if "la_officer" in unique and not la_code:
            raise RolesRefused("An la_officer account needs the la_code of its local authority.")
        if "platform_admin" in unique and la_code:
            raise RolesRefused("A platform_admin account has no la_code.")
        return
    if person is None:
        raise RolesRefused("School roles need the person_id of the account's holder.")
    if la_code:
        raise RolesRefused("Only la_officer accounts have an la_code.")
    for role in unique:
        if person.kind not in ROLE_KINDS.get(role, frozenset()):
            raise RolesRefused(f"A person of kind {person.kind!r} cannot hold the role {role!r}.")


def check_grant(roles: Sequence[str], *, current: Sequence[str] = (), by_platform_admin: bool) -> None:
    """Roles newly given (on a new account or added to one) that only a platform administrator grants."""
    refused = sorted((set(roles) - set(current)) & ADMIN_GRANTED_ROLES)
    if refused and not by_platform_admin:
        raise RoleNotGrantable(f"Only a platform administrator may grant {', '.join(refused)}.")


def check_password(password: str, username: str) -> None:
    try:
        passwords.check_policy(password, username=username)
    except passwords.PasswordRejected as exc:
        raise WeakPassword(str(exc)) from exc


async def get(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def by_username(session: AsyncSession, username: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.username_key == username_key(username)))


def list_query(
    *,
    school_id: uuid.UUID | None,
    q: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    person_id: uuid.UUID | None = None,
    platform_only: bool = False,
) -> Select[Any]:
    stmt = select(Account)
    if school_id is not None:
        stmt = stmt.where(Account.school_id == school_id)
    if platform_only:
        stmt = stmt.where(Account.school_id.is_(None))
    if q:
        escaped = username_key(q).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Account.username_key.like(f"%{escaped}%", escape="\\"))
    if is_active is not None:
        stmt = stmt.where(Account.is_active.is_(is_active))
    if person_id is not None:
        stmt = stmt.where(Account.person_id == person_id)
    if role is not None:
        # Roles are a short JSON list; a text match on the quoted name is exact enough and portable.
        stmt = stmt.where(cast(Account.roles, String).like(f'%"{role}"%'))
    return stmt


async def list_accounts(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    q: str | None,
    role: str | None,
    is_active: bool | None,
    person_id: uuid.UUID | None,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[Account], str | None]:
    """One page of the accounts matching the filters, oldest first."""
    stmt = list_query(school_id=school_id, q=q, role=role, is_active=is_active, person_id=person_id)
    return await paginate(
        session, stmt, order_by=(Account.created_at, Account.id), cursor=cursor, limit=limit
    )


async def _audit(
    session: AsyncSession,
    account: Account,
    *,
    actor: Principal | str,
    action: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    survives_refusal: bool = False,
) -> None:
    await audit.record(
        session,
        actor=actor,
        action=action,
        target_type="account",
        target_id=account.id,
        school_id=account.school_id,
        detail=detail,
        at=now,
        survives_refusal=survives_refusal,
    )


def _new_seed(account: Account, seeds: SeedBox) -> str:
    seed = totp.new_seed()
    account.totp_seed_sealed = seeds.seal(seed)
    account.totp_last_step = None
    return seed


async def _feed(session: AsyncSession, account: Account, now: datetime, *, roles_changed: bool) -> None:
    # An account's change (its "not before", its roles) stands even when the feed head cannot be
    # told: a revocation never waits for Redis, and the followers learn it from their next pull.
    await session.flush()
    if roles_changed and account.person_id is not None:
        await change_service.record_change(
            session, kind="person", entity_id=account.person_id, at=now, must_announce=False
        )
    await change_service.record_change(
        session, kind="account", entity_id=account.id, at=now, must_announce=False
    )


async def create(
    session: AsyncSession,
    *,
    body: AccountCreate,
    person: Person | None,
    expires_at: datetime | None,
    seeds: SeedBox,
    actor: Principal | str,
    now: datetime,
    by_platform_admin: bool,
    totp_seed: str | None = None,
    audited: bool = True,
    email: str | None = None,
) -> tuple[Account, str | None]:
    """A new account; returns it and, for a two-factor role, its new TOTP seed (shown once).

    `person`: the holder `body.person_id` names (checked by the caller); `expires_at`: the expiry to
    set (a visitor's, from `visitor_expiry`); `by_platform_admin`: whether a platform administrator
    (or the platform's own start-up) asks.
    """
    username, password, roles, la_code = body.username, body.password, body.roles, body.la_code
    check_grant(roles, by_platform_admin=by_platform_admin)
    check_roles(roles, person, la_code)
    check_password(password, username)
    if await by_username(session, username) is not None:
        raise UsernameTaken("That username is taken.")
    staff_person_id = person.id if person is not None and person.kind == "staff" else None
    if staff_person_id is not None and await session.scalar(
        select(Account.id).where(Account.staff_person_id == staff_person_id)
    ):
        raise StaffAccountExists("This member of staff already has an account; change its roles instead.")
    account = Account(
        id=uuid.uuid4(),
        person_id=person.id if person else None,
        school_id=person.school_id if person else None,
        staff_person_id=staff_person_id,
        la_code=la_code,
        username=username.strip(),
        username_key=username_key(username),
        password_hash=await passwords.hash_password(password),
        roles=sorted(set(roles)),
        is_active=True,
        expires_at=expires_at,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    set_email(account, email)
    seed = None
    if totp_seed is not None:
        account.totp_seed_sealed = seeds.seal(totp_seed)
    elif needs_two_factor(roles):
        seed = _new_seed(account, seeds)
    session.add(account)
    await _feed(session, account, now, roles_changed=True)
    if audited:
        detail = {"username": account.username, "roles": account.roles, "person_id": str(account.person_id)}
        await _audit(session, account, actor=actor, action="account.created", now=now, detail=detail)
    return account, seed


async def revoke_sessions(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> None:
    """End every refresh-token chain of the account (its holder must sign in again)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def move_not_before(
    session: AsyncSession, account: Account, now: datetime, *, at_least: datetime | None = None
) -> None:
    """Tokens issued before now (or before `at_least`, if later) are refused from here on, and
    every session ends."""
    account.not_before = cutoff(now) if at_least is None else max(cutoff(now), at_least)
    account.updated_at = now
    await revoke_sessions(session, account.id, now)


async def end_every_token(
    session: AsyncSession, account: Account, now: datetime, *, at_least: datetime | None = None
) -> None:
    """Every token and session of the account ends (a replayed authorization code: someone else
    may hold what its first exchange issued); the other services learn it from the feed."""
    await move_not_before(session, account, now, at_least=at_least)
    await _feed(session, account, now, roles_changed=False)


async def set_roles(
    session: AsyncSession,
    account: Account,
    *,
    body: RolesUpdate,
    seeds: SeedBox,
    actor: Principal | str,
    now: datetime,
    by_platform_admin: bool,
) -> str | None:
    """Change the roles; returns a new TOTP seed when the account now needs two-factor and had none."""
    roles = body.roles
    check_grant(roles, current=account.roles, by_platform_admin=by_platform_admin)
    person = await session.get(Person, account.person_id) if account.person_id else None
    check_roles(roles, person, account.la_code)
    before = list(account.roles)
    account.roles = sorted(set(roles))
    seed = None
    if needs_two_factor(roles) and account.totp_seed_sealed is None:
        seed = _new_seed(account, seeds)
    await move_not_before(session, account, now)
    await _feed(session, account, now, roles_changed=True)
    detail = {"from": before, "to": account.roles}
    await _audit(session, account, actor=actor, action="account.roles_changed", now=now, detail=detail)
    return seed


async def _set_active(session: AsyncSession, account: Account, active: bool, *, now: datetime) -> None:
    account.is_active = active
    await move_not_before(session, account, now)
    await _feed(session, account, now, roles_changed=True)


async def set_active(
    session: AsyncSession, account: Account, active: bool, *, actor: Principal | str, now: datetime
) -> None:
    """(De)activate the account: no more sign-ins while inactive, its tokens stop working."""
    await _set_active(session, account, active, now=now)
    action = "account.activated" if active else "account.deactivated"
    await _audit(session, account, actor=actor, action=action, now=now)


async def _set_password(session: AsyncSession, account: Account, password: str, *, now: datetime) -> None:
    check_password(password, account.username)
    account.password_hash = await passwords.hash_password(password)
    account.password_changed_at = now
    await move_not_before(session, account, now)
    await _feed(session, account, now, roles_changed=False)


async def change_password(
    session: AsyncSession, account: Account, password: str, *, actor: Principal | str, now: datetime
) -> None:
    """The holder's own change (the current password was checked by the caller); sessions end."""
    await _set_password(session, account, password, now=now)
    await _audit(session, account, actor=actor, action="account.password_changed", now=now)


async def reset_password(
    session: AsyncSession,
    account: Account,
    *,
    body: PasswordReset,
    actor: Principal | str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """A new password set for the account (by an administrator, a reset code, or the class
    teacher for a class-managed pupil); its sessions end."""
    await _set_password(session, account, body.password, now=now)
    await _audit(session, account, actor=actor, action="account.password_reset", now=now, detail=detail)


async def reenrol_totp(
    session: AsyncSession, account: Account, *, seeds: SeedBox, actor: Principal | str, now: datetime
) -> str:
    """The holder's own new two-factor secret (password and code were checked by the caller)."""
    account.updated_at = now
    seed = _new_seed(account, seeds)
    await _audit(session, account, actor=actor, action="account.totp_reenrolled", now=now)
    return seed


async def reset_totp(
    session: AsyncSession, account: Account, *, seeds: SeedBox, actor: Principal | str, now: datetime
) -> str:
    """An administrator's reset (lost phone): a new seed, and every session and token ends."""
    seed = _new_seed(account, seeds)
    await move_not_before(session, account, now)
    await _feed(session, account, now, roles_changed=False)
    await _audit(session, account, actor=actor, action="account.totp_reset", now=now)
    return seed


def totp_seed(account: Account, seeds: SeedBox) -> str | None:
    return seeds.open(account.totp_seed_sealed) if account.totp_seed_sealed else None


async def claim_totp_step(session: AsyncSession, account: Account, step: int) -> bool:
    """Remember the accepted code's time step; False if a concurrent sign-in took it first."""
    result = await session.execute(
        update(Account)
        .where(
            Account.id == account.id,
            or_(Account.totp_last_step.is_(None), Account.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    account.totp_last_step = step
    return bool(getattr(result, "rowcount", 0))


class WrongPassword(Forbidden):
    """A password check on one's own account failed (audited; the attempt stays counted)."""

    slug = "wrong-password"


async def check_own_password(
    session: AsyncSession, account: Account, password: str, *, now: datetime
) -> None:
    """The holder's current password, before they change it; a wrong one is refused and audited."""
    if not await passwords.verify_password(password, account.password_hash):
        await _audit(
            session,
            account,
            actor=f"user:{account.id}",
            action="account.password_change_refused",
            now=now,
            survives_refusal=True,
        )
        raise WrongPassword("The current password is wrong.")


async def check_holder(
    session: AsyncSession, account: Account, *, password: str, otp: str | None, seeds: SeedBox, now: datetime
) -> None:
    """The password is right and, for a two-factor account, the code is current and not used yet;
    else refused and audited (re-enrolling two-factor)."""
    seed = totp_seed(account, seeds)
    right = await passwords.verify_password(password, account.password_hash)
    if right and seed is not None:
        step = totp.accepted_step(seed, (otp or "").strip(), now=now, last_step=account.totp_last_step)
        right = step is not None and await claim_totp_step(session, account, step)
    if not right:
        await _audit(
            session,
            account,
            actor=f"user:{account.id}",
            action="account.totp_reenrol_refused",
            now=now,
            survives_refusal=True,
        )
        raise WrongPassword("The password or the one-time code is wrong (or the code was used already).")


def is_usable(account: Account, person: Person | None, now: datetime) -> bool:
    """Active, not past its expiry, and its holder still on the school's roll."""
    if not account.is_active:
        return False
    if account.expires_at is not None and account.expires_at <= now:
        return False
    return not (person is not None and not person.is_on_roll)


def visitor_expiry(
    roles: Sequence[str], requested: datetime | None, *, now: datetime, default: timedelta, maximum: timedelta
) -> datetime | None:
    """Visitors' accounts always expire (a day unless told); nobody's expiry may be in the past."""
    if requested is not None and requested <= now:
        raise Unprocessable("expires_at must be in the future.", slug="bad-expiry")
    if "visitor" not in roles:
        return requested
    if requested is None:
        return now + default
    if requested > now + maximum:
        raise Unprocessable(f"A visitor's account lasts at most {maximum.days} days.", slug="bad-expiry")
    return requested


async def deactivate_for_person(
    session: AsyncSession, person_id: uuid.UUID, *, now: datetime
) -> list[Account]:
    """A leaver: deactivate every active account of the person (called by the people domain)."""
    accounts = list(
        await session.scalars(select(Account).where(Account.person_id == person_id, Account.is_active))
    )
    for account in accounts:
        await _set_active(session, account, False, now=now)
    return accounts


async def roles_by_person(
    session: AsyncSession, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """For the people feed: the union of the roles of each person's active accounts."""
    if not person_ids:
        return {}
    rows = await session.execute(
        select(Account.person_id, Account.roles).where(Account.person_id.in_(person_ids), Account.is_active)
    )
    out: dict[uuid.UUID, set[str]] = {}
    for person_id, roles in rows:
        if person_id is not None:
            out.setdefault(person_id, set()).update(roles or [])
    return {pid: sorted(roles) for pid, roles in out.items()}


async def account_feed_data(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The people feed's `account` items: what other services need to refuse old tokens."""
    rows = await session.scalars(select(Account).where(Account.id.in_(ids)))
    return {
        a.id: {
            "person_id": str(a.person_id) if a.person_id else None,
            "not_before": a.not_before.isoformat() if a.not_before else None,
            "is_active": a.is_active,
        }
        for a in rows
    }


change_service.register_serializer("account", account_feed_data)
