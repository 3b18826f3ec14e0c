"""Identity's operator commands.

    python -m identity.cli rotate-key          add a signing key and make it active
    python -m identity.cli list-keys           the keys in the store and which are published
    python -m identity.cli create-admin NAME   a platform administrator (password and TOTP seed
                                               read from BOOTSTRAP_ADMIN_PASSWORD / _TOTP_SECRET)

The key store is IDENTITY_KEYS_DIR (default var/keys); a running identity picks up a rotation
without a restart, and keeps publishing the old key until its tokens have expired.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from identity.accounts import service as account_service
from identity.accounts.schemas import AccountCreate
from identity.config import IdentitySettings
from identity.security import totp
from identity.security.state import SecurityState
from servicekit.clock import Clock, SystemClock
from servicekit.db import create_engine, make_sessionmaker
from servicekit.keystore import KeyStore


def rotate_key(settings: IdentitySettings, clock: Clock) -> str:
    store = KeyStore(settings.keys_dir, clock, token_seconds=settings.access_token_seconds)
    store.ensure()
    return store.rotate()


def list_keys(settings: IdentitySettings, clock: Clock) -> list[str]:
    store = KeyStore(settings.keys_dir, clock, token_seconds=settings.access_token_seconds)
    published = {k.kid for k in store.published()}
    active = store.signing_key().kid
    lines = []
    for key in store.all_keys():
        state = "active" if key.kid == active else ("published" if key.kid in published else "retired")
        lines.append(f"{key.kid}\t{state}\tcreated {key.created_at.isoformat()}")
    return lines


async def create_admin(settings: IdentitySettings, clock: Clock, username: str) -> str:
    sec = SecurityState.create(settings, clock)
    password = settings.bootstrap_admin_password.get_secret_value()
    seed = settings.bootstrap_admin_totp_secret.get_secret_value().strip().upper() or totp.new_seed()
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            await account_service.create(
                session,
                body=AccountCreate(username=username, password=password, roles=["platform_admin"]),
                person=None,
                expires_at=None,
                seeds=sec.seeds,
                actor="system:cli",
                now=clock.now(),
                by_platform_admin=True,
                totp_seed=seed,
            )
            await session.commit()
    finally:
        await engine.dispose()
    return totp.provisioning_uri(seed, username)


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m identity.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("rotate-key", help="add a signing key and make it active")
    commands.add_parser("list-keys", help="list the signing keys")
    admin = commands.add_parser("create-admin", help="create a platform administrator")
    admin.add_argument("username")
    args = parser.parse_args(argv)
    settings = IdentitySettings()
    clock = clock or SystemClock()
    if args.command == "rotate-key":
        print(f"active key: {rotate_key(settings, clock)}")
    elif args.command == "list-keys":
        print("\n".join(list_keys(settings, clock)))
    elif args.command == "create-admin":
        if not settings.bootstrap_admin_password.get_secret_value():
            print("set BOOTSTRAP_ADMIN_PASSWORD (and BOOTSTRAP_ADMIN_TOTP_SECRET) first", file=sys.stderr)
            return 2
        uri = asyncio.run(create_admin(settings, clock, args.username))
        print(f"created; two-factor enrolment: {uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
