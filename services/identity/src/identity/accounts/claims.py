"""What a relying party (the MLE) learns about an account: only what it needs.

`id` (`sub`), the school, the roles and, for a pupil, the year group: no name, no date of birth,
no UPN, no carer. The id_token and userinfo of an OpenID Connect client carry these; names only
when the client asked for the `profile` scope (CONTRACT.md, "People signing in").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.accounts.models import Account
from identity.people.models import Person


def pupil_claims(account: Account, person: Person | None) -> dict[str, Any]:
    """`year_group` for a pupil's account, nothing for anyone else (the id_token builder adds it)."""
    if person is not None and person.kind == "pupil" and "pupil" in account.roles:
        return {"year_group": person.year_group}
    return {}


def minimal_claims(account: Account, person: Person | None) -> dict[str, Any]:
    """The claims about the account a relying party gets, whatever it asked for."""
    claims: dict[str, Any] = {
        "sub": str(account.id),
        "school_id": str(account.school_id) if account.school_id else None,
        "roles": sorted(account.roles),
    }
    return claims | pupil_claims(account, person)


async def account_claims(session: AsyncSession, account: Account) -> dict[str, Any]:
    person = await session.get(Person, account.person_id) if account.person_id else None
    return minimal_claims(account, person)
