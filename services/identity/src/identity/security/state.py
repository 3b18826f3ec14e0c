"""Per-app sign-in machinery (key store, throttle, seed encryption), kept in `app.state.security`.

Every password check (sign-in, /me/password, re-enrolling two-factor) reserves its attempt with
`signin_guards` before verifying and calls `signin_succeeded` after a right password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from identity.config import IdentitySettings
from identity.security.hashing import SeedBox, digest
from identity.security.throttle import Guard, Throttle
from servicekit import outbound
from servicekit.clock import Clock
from servicekit.keystore import KeyStore
from servicekit.replica import NotBeforeIndex

if TYPE_CHECKING:
    from identity.accounts.models import Account


@dataclass
class SecurityState:
    settings: IdentitySettings
    clock: Clock
    keys: KeyStore
    seeds: SeedBox
    throttle: Throttle
    # The app's index, which its token verifier reads (set by create_app).
    not_before: NotBeforeIndex
    # Where clients' back-channel logout URIs resolve (tests put their own resolver here).
    backchannel_resolver: outbound.Resolver

    @classmethod
    def create(cls, settings: IdentitySettings, clock: Clock) -> SecurityState:
        window = timedelta(seconds=settings.signin_window_seconds)
        cap = timedelta(seconds=settings.signin_max_backoff_seconds)
        return cls(
            settings=settings,
            clock=clock,
            keys=KeyStore(settings.keys_dir, clock, token_seconds=settings.access_token_seconds),
            seeds=SeedBox(settings.totp_key.get_secret_value()),
            throttle=Throttle(
                clock,
                window=window,
                max_backoff=cap,
                redis_url=settings.redis_url,
                redis_prefix=settings.redis_key_prefix,
            ),
            not_before=NotBeforeIndex(),
            backchannel_resolver=outbound.system_resolver(use_dns=settings.backchannel_resolve_dns),
        )

    async def check_backchannel(self, uri: str) -> outbound.Target:
        """A client's back-channel logout URI, checked now (servicekit.outbound); else TargetRefused."""
        return await outbound.check(
            uri,
            resolver=self.backchannel_resolver,
            allow_loopback=bool(self.settings.backchannel_allow_loopback),
        )

    def signin_guards(self, username_key: str, source: str | None) -> list[Guard]:
        """The keys a password guess for `username_key` from `source` counts against."""
        user, address = _part(username_key), _part(source or "unknown")
        return [
            Guard(f"account:{user}", self.settings.signin_max_failures),
            Guard(f"pair:{address}:{user}", self.settings.signin_max_failures),
            Guard(f"source:{address}", self.settings.signin_source_max_failures),
        ]

    def client_guards(self, source: str | None) -> list[Guard]:
        """The key a client-secret guess from `source` counts against (/oauth/token and /revoke)."""
        return [Guard(f"client:{_part(source or 'unknown')}", self.settings.signin_client_max_failures)]

    async def signin_succeeded(self, session: AsyncSession, username_key: str, source: str | None) -> None:
        """A right password: the account's and this address's counts start again; the flood
        guard gets its attempt back (it counts failures only).
        """
        account, pair, flood = (g.key for g in self.signin_guards(username_key, source))
        await self.throttle.succeeded(session, clear=[account, pair], release=[flood])

    def publish_not_before(self, account: Account) -> None:
        """Identity's own verifier refuses the account's older tokens at once (others via the feed)."""
        self.not_before.set(str(account.id), account.not_before)


def _part(value: str) -> str:
    """A key part of bounded length (usernames in a guess can be long)."""
    return value if len(value) <= 200 else "sha256:" + digest(value)


async def get_security(request: Request) -> SecurityState:
    state: SecurityState = request.app.state.security
    return state


SecurityDep = Annotated[SecurityState, Depends(get_security)]
