"""Passwords: the one module that hashes them (argon2id via passlib) and the NCSC password policy.

Hashing and verifying run off the event loop (argon2 is deliberately slow). Unknown users are
verified against a dummy hash, so a sign-in for a name that does not exist takes as long as one
with a wrong password.
"""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources

from passlib.context import CryptContext

MIN_LENGTH = 8
MIN_LENGTH_ANY = 12
MAX_LENGTH = 1024

# argon2id with the OWASP-recommended floor (19 MiB, 2 passes, 1 lane): strong, and cheap enough
# that a flood of sign-ins cannot exhaust the machine's memory.
_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)
_DUMMY_HASH = _context.hash("not-a-real-password: timing equaliser")


class PasswordRejected(ValueError):
    """A password breaks the policy; the message says why, for the caller."""


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("identity.security").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_policy(password: str, *, username: str | None = None) -> None:
    """NCSC: at least 8 characters and not a common password, or at least 12 of any kind.

    No composition rules and no truncation; at most 1,024 characters so hashing stays bounded.
    """
    length = len(password)
    if length > MAX_LENGTH:
        raise PasswordRejected(f"The password is longer than {MAX_LENGTH} characters.")
    if length < MIN_LENGTH:
        raise PasswordRejected(f"The password must have at least {MIN_LENGTH} characters.")
    if length >= MIN_LENGTH_ANY:
        return
    lowered = password.lower()
    if lowered in common_passwords():
        raise PasswordRejected(
            "The password is one of the most common passwords; choose another, or use at least "
            f"{MIN_LENGTH_ANY} characters (three random words work well)."
        )
    if username and lowered == username.lower():
        raise PasswordRejected("The password must not be the username.")


async def hash_password(password: str) -> str:
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"The password is longer than {MAX_LENGTH} characters.")
    return str(await asyncio.to_thread(_context.hash, password))


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` matches; with no hash (unknown user) a dummy is verified, then False."""
    if len(password) > MAX_LENGTH:
        # Same work as a real check, so the length of a guess tells nothing either.
        await asyncio.to_thread(_context.verify, "x", _DUMMY_HASH)
        return False
    if password_hash is None:
        await asyncio.to_thread(_context.verify, password, _DUMMY_HASH)
        return False
    try:
        return bool(await asyncio.to_thread(_context.verify, password, password_hash))
    except (ValueError, TypeError):
        return False
