"""Who may read or manage which account, in one place.

A platform administrator reaches every account. Anyone else reaches only the accounts of the
school in their token (another school's account, or a platform/LA account, is "not found"); they
never grant platform_admin, la_officer, head_teacher or safeguarding_lead (accounts/service.py's
check_grant, applied wherever roles are set).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.accounts.service import PLATFORM_ROLES, RoleNotGrantable
from identity.people import service as people_service
from identity.people.models import Person
from identity.schools.dependencies import is_platform_admin
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep
from servicekit.errors import Forbidden, NotFound, Unprocessable


class AccountNotFound(NotFound):
    slug = "account-not-found"


class NotAPerson(Forbidden):
    slug = "not-a-person"


def can_reach(principal: Principal, account: Account) -> bool:
    if is_platform_admin(principal):
        return True
    return account.school_id is not None and account.school_id == principal.school_id


async def holder_of_account(
    session: SessionDep, principal: Principal, person_id: uuid.UUID | None
) -> Person | None:
    """The person a new account is for (None: a platform or LA account); one of the caller's school."""
    if person_id is None:
        return None
    person = await people_service.get_person(session, person_id)
    if person is None or not (is_platform_admin(principal) or person.school_id == principal.school_id):
        raise Unprocessable("person_id is not a person of your school.", slug="unknown-person")
    return person


async def _load(session: SessionDep, principal: Principal, account_id: uuid.UUID) -> Account:
    account = await account_service.get(session, account_id)
    if account is None or not can_reach(principal, account):
        raise AccountNotFound("No such account.")
    return account


async def readable_account(
    account_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("users:read")],
) -> Account:
    return await _load(session, principal, account_id)


async def manageable_account(
    account_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("users:write")],
) -> Account:
    account = await _load(session, principal, account_id)
    # A school's manager cannot reach a platform account anyway (no school); say so for clarity.
    if not is_platform_admin(principal) and not PLATFORM_ROLES.isdisjoint(account.roles):
        raise RoleNotGrantable("Only a platform administrator manages platform and LA accounts.")
    return account


async def own_account(session: SessionDep, principal: Annotated[Principal, Scoped()]) -> Account:
    """The caller's own account (a person signed in, not an outside system)."""
    if principal.is_client:
        raise NotAPerson("Only a person's account has this.")
    try:
        account_id = uuid.UUID(principal.subject)
    except ValueError as exc:
        raise AccountNotFound("No such account.") from exc
    account = await account_service.get(session, account_id)
    if account is None or not account.is_active:
        raise AccountNotFound("No such account.")
    return account


ReadableAccount = Annotated[Account, Depends(readable_account)]
ManageableAccount = Annotated[Account, Depends(manageable_account)]
OwnAccount = Annotated[Account, Depends(own_account)]
