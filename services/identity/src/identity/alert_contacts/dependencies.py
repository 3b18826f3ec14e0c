"""The signed-in person whose alert preferences a route reads or sets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from identity.accounts.dependencies import NotAPerson, OwnAccount
from servicekit.auth import Principal, Scoped


@dataclass(frozen=True)
class Person:
    principal: Principal
    person_id: uuid.UUID


async def own_person(account: OwnAccount, principal: Annotated[Principal, Scoped()]) -> Person:
    """The caller as a member of a school's staff: alerts are staff's (a parent's, a pupil's or the
    platform administrator's account has none)."""
    person_id = account.staff_person_id
    if person_id is None:
        raise NotAPerson("Only a member of a school's staff has alert preferences.")
    return Person(principal, person_id)


OwnPerson = Annotated[Person, Depends(own_person)]
