"""Password reset by a single-use code, and the passwords of class-managed (KS1) pupils.

- Asked for on the reset page (username or e-mail): a code is made for each matching account that
  has an e-mail address and may reset itself, and its e-mail is written to the outbox
  (servicekit.outbox, topic `reset_code.email`, the message id is the code's) in the same
  transaction, so a code the page has answered for is e-mailed at least once, across restarts
  (recovery/mail.py). The outbox row holds the code's id only: the code itself is drawn when the
  e-mail is sent (`code_for_mail`), its digest replacing the one of a code nobody ever saw. The page
  reads the same whether anything matched or not (the caller learns nothing from it).
- Handed over by the office (`POST /v1/identity/users/{account_id}/reset-code`): the code is in
  that one response, audited.
- Used on the reset page with a new password (the platform's policy): the code works once and only
  until it expires; a newer code supersedes older ones; the account's tokens and sessions end (its
  not-before moves, every refresh-token chain is revoked).
- Pupils below Year 3 (`accounts.service.is_class_managed`): no self-service reset; the teacher or
  office sets the password (`POST /v1/identity/users/{account_id}/class-password`).

Codes are stored as SHA-256 only. Functions take the session and only flush.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.accounts.schemas import PasswordReset
from identity.people.models import Person
from identity.recovery.models import PasswordResetCode
from identity.security.hashing import code_digest, new_code
from servicekit import audit, outbox
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden

# Roles whose accounts the office may hand a reset code to; any other account needs `users:write`
# (the office must not take over a colleague's account by resetting its password).
OFFICE_RESETTABLE_ROLES = frozenset({"parent", "pupil"})


# The outbox topic of a reset code's e-mail (its handler: recovery/mail.py).
RESET_MAIL_TOPIC = "reset_code.email"


class ResetCodeRefused(Forbidden):
    slug = "reset-code-refused"


class NotClassManaged(Conflict):
    slug = "not-class-managed"


class ResetNotAllowed(Forbidden):
    slug = "reset-not-allowed"


REFUSED = (
    "That code does not work: it may be mistyped, used already, replaced by a newer code or out of "
    "date. Ask for a new code, or ask the school office."
)


@dataclass(frozen=True)
class EmailedCode:
    """A code to e-mail: the address, the code, until when it works."""

    email: str
    code: str
    expires_at: datetime


def _actor(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.actor


async def _person(session: AsyncSession, account: Account) -> Person | None:
    return await session.get(Person, account.person_id) if account.person_id else None


async def _new_code(
    session: AsyncSession,
    account: Account,
    *,
    channel: str,
    actor: Principal | str,
    now: datetime,
    valid_for: timedelta,
) -> tuple[PasswordResetCode, str]:
    await session.execute(
        update(PasswordResetCode)
        .where(
            PasswordResetCode.account_id == account.id,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    code = new_code()
    row = PasswordResetCode(
        id=uuid.uuid4(),
        account_id=account.id,
        school_id=account.school_id,
        code_digest=code_digest(code),
        channel=channel,
        created_by=_actor(actor),
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(row)
    await session.flush()
    return row, code


async def _audit(
    session: AsyncSession,
    account: Account,
    *,
    actor: Principal | str,
    action: str,
    now: datetime,
    detail: dict[str, str],
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


async def request_reset(
    session: AsyncSession, identifier: str, *, now: datetime, valid_for: timedelta
) -> int:
    """A code, and its e-mail in the outbox, for each account `identifier` (a username or an e-mail
    address) names; returns how many (the page does not say).

    Accounts without an address, inactive ones and class-managed pupils get none; nothing tells
    the caller which case it was. No code exists in clear yet: the row holds the digest of one
    nobody saw, until the outbox worker draws the code it e-mails (`code_for_mail`).
    """
    key = identifier.strip().lower()
    if not key:
        return 0
    accounts = await session.scalars(
        select(Account).where(or_(Account.username_key == key, Account.email_key == key)).limit(5)
    )
    queued = 0
    for account in list(accounts):
        person = await _person(session, account)
        if not account.email or not account_service.is_usable(account, person, now):
            continue
        if account_service.is_class_managed(account, person):
            continue
        row, _unseen = await _new_code(
            session, account, channel="email", actor="system:reset-page", now=now, valid_for=valid_for
        )
        await outbox.enqueue(session, RESET_MAIL_TOPIC, {"code_id": str(row.id)}, now=now, message_id=row.id)
        await _audit(
            session,
            account,
            actor="system:reset-page",
            action="account.reset_code_sent",
            now=now,
            detail={"channel": "email", "code_id": str(row.id)},
        )
        queued += 1
    return queued


async def code_for_mail(session: AsyncSession, code_id: uuid.UUID, *, now: datetime) -> EmailedCode | None:
    """The code to e-mail for a reset asked for on the page: drawn now, its digest replacing the
    row's, so the code exists in clear only in this e-mail (never in the outbox). Each attempt
    draws a new one, so only the last e-mail sent works. None when there is nothing to send: the
    code was used, replaced by a newer one or is out of date, or the account has no address or
    may no longer reset. The caller commits before sending."""
    row = await session.get(PasswordResetCode, code_id, with_for_update=True)
    if (
        row is None
        or row.channel != "email"
        or row.used_at is not None
        or row.superseded_at is not None
        or row.expires_at <= now
    ):
        return None
    account = await session.get(Account, row.account_id)
    if account is None or not account.email:
        return None
    person = await _person(session, account)
    if not account_service.is_usable(account, person, now) or account_service.is_class_managed(
        account, person
    ):
        return None
    code = new_code()
    row.code_digest = code_digest(code)
    await session.flush()
    return EmailedCode(email=account.email, code=code, expires_at=row.expires_at)


def check_office_may_reset(principal: Principal, account: Account) -> None:
    """The office hands codes to parents' and pupils' accounts; `users:write` to any it manages."""
    if principal.has_scope("users:write"):
        return
    if not set(account.roles) <= OFFICE_RESETTABLE_ROLES:
        raise ResetNotAllowed(
            "The office hands reset codes to parents' and pupils' accounts only; a member of staff's "
            "password is reset by the head teacher or an administrator."
        )


async def issue_handover(
    session: AsyncSession, account: Account, *, actor: Principal, now: datetime, valid_for: timedelta
) -> tuple[PasswordResetCode, str]:
    """A code the office hands over in person (shown once in the response), audited."""
    check_office_may_reset(actor, account)
    if not account.is_active:
        raise ResetNotAllowed("This account is deactivated; activate it first.")
    row, code = await _new_code(session, account, channel="office", actor=actor, now=now, valid_for=valid_for)
    await _audit(
        session,
        account,
        actor=actor,
        action="account.reset_code_issued",
        now=now,
        detail={"channel": "office", "code_id": str(row.id), "expires_at": row.expires_at.isoformat()},
    )
    return row, code


async def use_code(session: AsyncSession, code: str, password: str, *, now: datetime) -> Account:
    """Set a new password with a reset code; the account's tokens and sessions end.

    Everything is checked before anything is written; a known code that is used, superseded or
    expired is refused and audited.
    """
    row = await session.scalar(
        select(PasswordResetCode).where(PasswordResetCode.code_digest == code_digest(code))
    )
    if row is None:
        raise ResetCodeRefused(REFUSED)
    account = await session.get(Account, row.account_id)
    if account is None:
        raise ResetCodeRefused(REFUSED)
    person = await _person(session, account)
    reason = None
    if row.used_at is not None:
        reason = "used"
    elif row.superseded_at is not None:
        reason = "superseded"
    elif row.expires_at <= now:
        reason = "expired"
    elif not account_service.is_usable(account, person, now):
        reason = "account-inactive"
    if reason is not None:
        await _audit(
            session,
            account,
            actor="system:reset-page",
            action="account.reset_code_refused",
            now=now,
            detail={"reason": reason, "code_id": str(row.id)},
            survives_refusal=True,
        )
        raise ResetCodeRefused(REFUSED)
    account_service.check_password(password, account.username)
    taken = await session.execute(
        update(PasswordResetCode)
        .where(PasswordResetCode.id == row.id, PasswordResetCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        raise ResetCodeRefused(REFUSED)
    await session.execute(
        update(PasswordResetCode)
        .where(
            PasswordResetCode.account_id == account.id,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.superseded_at.is_(None),
        )
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    await account_service.reset_password(
        session,
        account,
        body=PasswordReset.model_construct(password=password),
        actor=f"reset-code:{row.id}",
        now=now,
        detail={"channel": row.channel, "code_id": str(row.id)},
    )
    return account


async def set_class_password(
    session: AsyncSession, account: Account, password: str, *, actor: Principal, now: datetime
) -> None:
    """The teacher or office sets a class-managed (KS1) pupil's password; its sessions end."""
    if not account_service.is_class_managed(account, await _person(session, account)):
        raise NotClassManaged(
            "Only a class-managed pupil's account (below Year 3) has its password set by staff; "
            "from Year 3 pupils use a personal password: hand over a reset code instead."
        )
    await account_service.reset_password(
        session,
        account,
        body=PasswordReset.model_construct(password=password),
        actor=actor,
        now=now,
        detail={"class_managed": "true"},
    )
