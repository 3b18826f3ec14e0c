"""Time-based one-time codes (RFC 6238: SHA-1, 30 s, 6 digits) for the two-factor roles.

A code is accepted once: the account remembers the last time step it accepted, and only a later
step is taken (one step of drift either way is allowed for clocks that disagree).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

import pyotp

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "E-safety platform"


def new_seed() -> str:
    return str(pyotp.random_base32())


def is_valid_seed(seed: str) -> bool:
    try:
        pyotp.TOTP(seed).now()
    except (ValueError, TypeError, Exception):  # noqa: BLE001 - pyotp raises binascii errors too
        return False
    return len(seed) >= 16


def provisioning_uri(seed: str, username: str) -> str:
    return str(pyotp.TOTP(seed).provisioning_uri(name=username, issuer_name=ISSUER))


def code_at(seed: str, when: datetime) -> str:
    return str(pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).at(when))


def step_of(when: datetime) -> int:
    return int(when.timestamp()) // STEP_SECONDS


def accepted_step(seed: str, code: str, *, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to if it is valid now and later than `last_step`, else None."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    for drift in (0, -1, 1):
        when = now + timedelta(seconds=drift * STEP_SECONDS)
        if hmac.compare_digest(code_at(seed, when), code):
            step = step_of(when)
            if last_step is not None and step <= last_step:
                return None
            return step
    return None
