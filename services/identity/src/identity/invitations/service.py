"""Invitations: the office issues a single-use code for a carer with parental responsibility for a
pupil of the school; the carer opens the invitation page, chooses a username and a password, and
has an account with the role `parent`, linked to their carer record (so they see their children
through the carer links, as every parent principal does).

The code is shown once, to the office (in the create response); only its SHA-256 is stored. A
used, revoked or expired invitation is refused with a message that says what to do, and audited.
Functions take the session and only flush; each change is audited beside it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.accounts.schemas import AccountCreate
from identity.invitations.models import Invitation
from identity.people.models import CarerLink, Person
from identity.people.service import CARER_KINDS
from identity.security.hashing import SeedBox, code_digest, new_code
from servicekit import audit
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, Unprocessable
from servicekit.pagination import paginate


class UnknownCarer(Unprocessable):
    slug = "unknown-carer"


class NoParentalResponsibility(Unprocessable):
    slug = "no-parental-responsibility"


class CarerHasAccount(Conflict):
    slug = "carer-has-account"


class InvitationNotPending(Conflict):
    slug = "invitation-not-pending"


class InvitationRefused(Forbidden):
    """The code on the invitation page is unknown, used, revoked or expired (`reason` says which)."""

    slug = "invitation-refused"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


MESSAGES = {
    "unknown": "We do not recognise that invitation code. Check it against your letter or e-mail "
    "and try again, or ask the school office for a new invitation.",
    "used": "This invitation has been used already. If you made your account, sign in with it; "
    "if you did not, tell the school office at once.",
    "revoked": "The school withdrew this invitation. Ask the school office for a new one.",
    "expired": "This invitation has expired. Ask the school office for a new one.",
    "no-responsibility": "This invitation can no longer be used. Please contact the school office.",
}


async def children_in_care(session: AsyncSession, carer: Person) -> list[uuid.UUID]:
    """The pupils on roll of the carer's school whom the carer has parental responsibility for."""
    rows = await session.scalars(
        select(CarerLink.pupil_id)
        .join(Person, Person.id == CarerLink.pupil_id)
        .where(
            CarerLink.carer_id == carer.id,
            CarerLink.is_active.is_(True),
            CarerLink.has_parental_responsibility.is_(True),
            Person.school_id == carer.school_id,
            Person.kind == "pupil",
            Person.is_on_roll.is_(True),
        )
    )
    return list(rows)


async def _carer_account(session: AsyncSession, carer_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(Account.id).where(Account.person_id == carer_id, Account.is_active.is_(True)).limit(1)
    )
    return found


async def _audit(
    session: AsyncSession,
    invitation: Invitation,
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
        target_type="invitation",
        target_id=invitation.id,
        school_id=invitation.school_id,
        detail=detail or {},
        at=now,
        survives_refusal=survives_refusal,
    )


def _actor_name(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.actor


async def issue(
    session: AsyncSession,
    *,
    school_id: uuid.UUID,
    carer_id: uuid.UUID,
    email: str | None,
    actor: Principal | str,
    now: datetime,
    valid_for: timedelta,
) -> tuple[Invitation, str]:
    """A new invitation for the carer (an older pending one is withdrawn); returns it and its code."""
    carer = await session.get(Person, carer_id)
    if carer is None or carer.school_id != school_id or carer.kind not in CARER_KINDS or not carer.is_on_roll:
        raise UnknownCarer("carer_id is not a carer of your school.")
    if not await children_in_care(session, carer):
        raise NoParentalResponsibility(
            "This carer has no parental responsibility for a pupil of your school; only a carer who "
            "has one is invited (record it on the carer link first)."
        )
    if await _carer_account(session, carer.id) is not None:
        raise CarerHasAccount("This carer has an account already; a forgotten password is reset instead.")
    for older in await session.scalars(
        select(Invitation).where(
            Invitation.carer_id == carer.id,
            Invitation.used_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
    ):
        await _withdraw(session, older, actor=actor, now=now, reason="superseded")
    code = new_code()
    invitation = Invitation(
        id=uuid.uuid4(),
        school_id=school_id,
        carer_id=carer.id,
        code_digest=code_digest(code),
        email=email.strip() if email else None,
        expires_at=now + valid_for,
        created_by=_actor_name(actor),
        created_at=now,
        version=1,
    )
    session.add(invitation)
    await session.flush()
    detail = {
        "carer_id": str(carer.id),
        "expires_at": invitation.expires_at.isoformat(),
        "email": bool(email),
    }
    await _audit(session, invitation, actor=actor, action="invitation.issued", now=now, detail=detail)
    return invitation, code


async def get(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation | None:
    return await session.get(Invitation, invitation_id)


def list_query(
    *, school_id: uuid.UUID | None, carer_id: uuid.UUID | None, status: str | None, now: datetime
) -> Select[Any]:
    stmt = select(Invitation)
    if school_id is not None:
        stmt = stmt.where(Invitation.school_id == school_id)
    if carer_id is not None:
        stmt = stmt.where(Invitation.carer_id == carer_id)
    if status == "used":
        stmt = stmt.where(Invitation.used_at.is_not(None))
    elif status == "revoked":
        stmt = stmt.where(Invitation.used_at.is_(None), Invitation.revoked_at.is_not(None))
    elif status in ("pending", "expired"):
        stmt = stmt.where(Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        stmt = stmt.where(
            Invitation.expires_at > now if status == "pending" else Invitation.expires_at <= now
        )
    return stmt


async def list_invitations(
    session: AsyncSession,
    *,
    school_id: uuid.UUID | None,
    carer_id: uuid.UUID | None,
    status: str | None,
    now: datetime,
    cursor: uuid.UUID | None,
    limit: int,
) -> tuple[list[Invitation], str | None]:
    stmt = list_query(school_id=school_id, carer_id=carer_id, status=status, now=now)
    return await paginate(
        session, stmt, order_by=(Invitation.created_at, Invitation.id), cursor=cursor, limit=limit
    )


async def _withdraw(
    session: AsyncSession, invitation: Invitation, *, actor: Principal | str, now: datetime, reason: str
) -> None:
    invitation.revoked_at = now
    invitation.revoked_by = _actor_name(actor)
    invitation.version += 1
    await session.flush()
    await _audit(
        session, invitation, actor=actor, action="invitation.revoked", now=now, detail={"reason": reason}
    )


async def revoke(
    session: AsyncSession, invitation: Invitation, *, actor: Principal | str, now: datetime
) -> None:
    """Withdraw a pending invitation: its code no longer works."""
    status = invitation.status_at(now)
    if status != "pending":
        raise InvitationNotPending(f"This invitation is {status}; only a pending one is revoked.")
    await _withdraw(session, invitation, actor=actor, now=now, reason="revoked")


async def by_code(session: AsyncSession, code: str) -> Invitation | None:
    if not code.strip():
        return None
    found: Invitation | None = await session.scalar(
        select(Invitation).where(Invitation.code_digest == code_digest(code))
    )
    return found


async def open_invitation(session: AsyncSession, code: str, *, now: datetime) -> tuple[Invitation, Person]:
    """The pending invitation of `code` and its carer, or InvitationRefused (audited when the code
    belongs to an invitation that is used, revoked or expired, or whose carer no longer qualifies).
    """
    invitation = await by_code(session, code)
    if invitation is None:
        raise InvitationRefused(MESSAGES["unknown"], reason="unknown")
    status = invitation.status_at(now)
    carer = await session.get(Person, invitation.carer_id)
    if status == "pending" and (
        carer is None or not carer.is_on_roll or not await children_in_care(session, carer)
    ):
        status = "no-responsibility"
    if status != "pending":
        await _audit(
            session,
            invitation,
            actor="system:invitation-page",
            action="invitation.use_refused",
            now=now,
            detail={"reason": status},
            survives_refusal=True,
        )
        raise InvitationRefused(MESSAGES[status], reason=status)
    assert carer is not None
    return invitation, carer


async def accept(
    session: AsyncSession,
    *,
    code: str,
    username: str,
    password: str,
    seeds: SeedBox,
    now: datetime,
) -> Account:
    """Use the invitation: a new `parent` account for its carer, with the chosen username and
    password (the platform's password policy). Everything is checked before anything is written.
    """
    invitation, carer = await open_invitation(session, code, now=now)
    if await _carer_account(session, carer.id) is not None:
        raise CarerHasAccount("You have an account already: sign in, or reset your password.")
    actor = f"invitation:{invitation.id}"
    try:
        body = AccountCreate(username=username, password=password, roles=["parent"])
    except ValidationError as exc:
        raise Unprocessable(
            "Choose a username of 3 to 100 letters, digits, dots, hyphens or @, starting with a letter "
            "or digit, and a password.",
            slug="invalid-username",
        ) from exc
    account, _ = await account_service.create(
        session,
        body=body,
        person=carer,
        expires_at=None,
        seeds=seeds,
        actor=actor,
        now=now,
        by_platform_admin=False,
    )
    if invitation.email:
        account_service.set_email(account, invitation.email)
    # Single use, also against a concurrent acceptance of the same code.
    taken = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(used_at=now, account_id=account.id, version=Invitation.version + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        raise InvitationRefused(MESSAGES["used"], reason="used")
    invitation.used_at, invitation.account_id = now, account.id
    await _audit(
        session,
        invitation,
        actor=actor,
        action="invitation.accepted",
        now=now,
        detail={"account_id": str(account.id), "issued_by": invitation.created_by},
    )
    return account
