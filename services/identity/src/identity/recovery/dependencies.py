"""Loading a path's account for the office's reset codes and the class teacher's passwords."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path

from identity.accounts import service as account_service
from identity.accounts.dependencies import AccountNotFound
from identity.accounts.models import Account
from servicekit.auth import Principal, Scoped
from servicekit.db import SessionDep


async def _school_account(session: SessionDep, principal: Principal, account_id: uuid.UUID) -> Account:
    account = await account_service.get(session, account_id)
    if account is None or principal.school_id is None or account.school_id != principal.school_id:
        raise AccountNotFound("No such account.")
    return account


async def recoverable_account(
    account_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("users:recover")],
) -> Account:
    return await _school_account(session, principal, account_id)


async def class_account(
    account_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    principal: Annotated[Principal, Scoped("pupils:passwords")],
) -> Account:
    return await _school_account(session, principal, account_id)


RecoverableAccount = Annotated[Account, Depends(recoverable_account)]
ClassAccount = Annotated[Account, Depends(class_account)]
