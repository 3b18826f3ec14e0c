"""Per-app sign-in machinery (key store, throttles, seed encryption), kept in `app.state.security`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from identity.config import IdentitySettings
from identity.security.hashing import SeedBox
from identity.security.throttle import Throttle
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
    account_throttle: Throttle
    source_throttle: Throttle
    # The app's index, which its token verifier reads (set by create_app).
    not_before: NotBeforeIndex

    @classmethod
    def create(cls, settings: IdentitySettings, clock: Clock) -> SecurityState:
        window = timedelta(seconds=settings.signin_window_seconds)
        cap = timedelta(seconds=settings.signin_max_backoff_seconds)
        return cls(
            settings=settings,
            clock=clock,
            keys=KeyStore(settings.keys_dir, clock, token_seconds=settings.access_token_seconds),
            seeds=SeedBox(settings.totp_key.get_secret_value()),
            account_throttle=Throttle(
                clock, max_failures=settings.signin_max_failures, window=window, max_backoff=cap
            ),
            source_throttle=Throttle(
                clock, max_failures=settings.signin_source_max_failures, window=window, max_backoff=cap
            ),
            not_before=NotBeforeIndex(),
        )

    def publish_not_before(self, account: Account) -> None:
        """Identity's own verifier refuses the account's older tokens at once (others via the feed)."""
        self.not_before.set(str(account.id), account.not_before)


async def get_security(request: Request) -> SecurityState:
    state: SecurityState = request.app.state.security
    return state


SecurityDep = Annotated[SecurityState, Depends(get_security)]
