"""Identity's token verifier: the account's "not before" read from the database, not a cache.

Other services learn an account's "not before" (password change, lock, role change, leaver) from
identity's feed and keep it in memory, so their token checks cost no database round trip. Inside
identity the replicas share the database, and a revocation made through one must hold at once in
every other: after the usual checks (signature, claims, the in-memory index this replica keeps),
a person's token costs one primary-key read of `account.not_before`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.accounts.models import Account
from servicekit.auth import Principal, TokenVerifier
from servicekit.jwt import TokenRejected


class StoredNotBeforeVerifier(TokenVerifier):
    def __init__(
        self, inner: TokenVerifier, sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]
    ) -> None:
        super().__init__(
            inner.keys,
            issuer=inner.issuer,
            audience=inner.audience,
            clock=inner.clock,
            not_before=inner.not_before,
        )
        self._sessionmaker = sessionmaker

    async def verify(self, token: str) -> Principal:
        principal = await super().verify(token)
        if principal.is_client:
            return principal
        try:
            account_id = uuid.UUID(principal.subject)
        except ValueError:
            return principal
        async with self._sessionmaker()() as session:
            cutoff = await session.scalar(select(Account.not_before).where(Account.id == account_id))
        if cutoff is not None and principal.issued_at < cutoff:
            raise TokenRejected("issued before the account's not-before")
        return principal
