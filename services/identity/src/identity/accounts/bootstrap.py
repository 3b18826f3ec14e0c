"""What identity does when it starts: a signing key if there is none, the platform services'
OAuth clients from IDENTITY_SERVICE_CLIENTS, the first platform administrator from
BOOTSTRAP_ADMIN_* when none exists (never a default one), and the accounts' not-before for the
token verifier, kept fresh while running (other replicas change accounts too), and the pruning
of the sign-in throttle's quiet keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.accounts.schemas import AccountCreate
from identity.clients import service as client_service
from identity.security import totp
from identity.security.state import SecurityState

log = logging.getLogger("identity.bootstrap")


class BootstrapError(RuntimeError):
    """The bootstrap settings are unusable (identity refuses to start)."""


def normalise_seed(seed: str) -> str:
    """A TOTP secret as authenticator apps show it (groups of four, lower case) in its plain form."""
    return seed.strip().replace(" ", "").upper()


def check_admin_settings(username: str, password: str, seed: str) -> None:
    """Refuse BOOTSTRAP_ADMIN_* values identity could not create the administrator from.

    The run command (scripts/launcher.py) checks an operator's values with this before starting
    anything, so a bad one stops it with the reason instead of a generated administrator.
    """
    if not username.strip():
        raise BootstrapError("BOOTSTRAP_ADMIN_USERNAME is empty.")
    if not password or not seed:
        raise BootstrapError("BOOTSTRAP_ADMIN_PASSWORD and BOOTSTRAP_ADMIN_TOTP_SECRET are required too.")
    try:
        account_service.check_password(password, username.strip())
    except account_service.WeakPassword as exc:
        raise BootstrapError(f"BOOTSTRAP_ADMIN_PASSWORD breaks the password policy: {exc}") from exc
    if not totp.is_valid_seed(normalise_seed(seed)):
        raise BootstrapError("BOOTSTRAP_ADMIN_TOTP_SECRET must be base32, at least 16 characters.")


async def ensure_admin(session: AsyncSession, sec: SecurityState) -> Account | None:
    """Create the first platform administrator from the settings, if none exists yet."""
    settings = sec.settings
    username = settings.bootstrap_admin_username.strip()
    password = settings.bootstrap_admin_password.get_secret_value()
    seed = normalise_seed(settings.bootstrap_admin_totp_secret.get_secret_value())
    if not username:
        return None
    existing = await session.scalars(select(Account).where(Account.school_id.is_(None)))
    if any("platform_admin" in a.roles for a in existing):
        return None
    check_admin_settings(username, password, seed)
    now = sec.clock.now()
    try:
        account, _ = await account_service.create(
            session,
            body=AccountCreate(username=username, password=password, roles=["platform_admin"]),
            person=None,
            expires_at=None,
            seeds=sec.seeds,
            actor="system:bootstrap",
            now=now,
            by_platform_admin=True,
            totp_seed=seed,
        )
    except Exception as exc:
        raise BootstrapError(f"cannot create the bootstrap administrator: {exc}") from exc
    log.info("created the bootstrap platform administrator %s", account.username)
    return account


async def load_not_before(sessionmaker: async_sessionmaker[AsyncSession], sec: SecurityState) -> None:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Account.id, Account.not_before).where(Account.not_before.is_not(None))
        )
        for account_id, not_before in rows:
            sec.not_before.set(str(account_id), not_before)


async def _refresh_forever(app: FastAPI, sec: SecurityState, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await load_not_before(app.state.sessionmaker, sec)
            async with app.state.sessionmaker() as session:
                await sec.throttle.prune(session)
                await session.commit()
        except Exception as exc:  # noqa: BLE001 - keep serving; try again next time
            log.warning("not-before refresh or throttle pruning failed: %s", type(exc).__name__)


async def on_startup(app: FastAPI) -> None:
    sec: SecurityState = app.state.security
    sec.keys.ensure()
    sec.keys.signing_key()
    async with app.state.sessionmaker() as session:
        await client_service.sync_service_clients(session, sec.settings.service_clients, now=sec.clock.now())
        await ensure_admin(session, sec)
        await session.commit()
    await load_not_before(app.state.sessionmaker, sec)
    app.state.not_before_task = asyncio.create_task(
        _refresh_forever(app, sec, sec.settings.follow_interval_seconds)
    )


async def on_shutdown(app: FastAPI) -> None:
    task = getattr(app.state, "not_before_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sec: SecurityState = app.state.security
    await sec.throttle.close()
