"""Secrets that identity keeps: opaque tokens and client secrets (stored as SHA-256), and TOTP
seeds (stored encrypted with a key from the settings, never returned after they are made).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken


def new_token(prefix: str, nbytes: int = 32) -> str:
    """A random opaque token (refresh tokens, client secrets): 256 bits unless told otherwise."""
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def digest(value: str) -> str:
    """SHA-256 of a high-entropy secret; enough for random tokens, which cannot be guessed."""
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(value), stored_digest)


class SeedBox:
    """Encrypts TOTP seeds at rest (Fernet, key derived from the `totp_key` setting)."""

    def __init__(self, key_material: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest())
        self._fernet = Fernet(key)

    def seal(self, seed: str) -> str:
        return self._fernet.encrypt(seed.encode()).decode()

    def open(self, sealed: str) -> str | None:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None


# Human-typed one-time codes (invitations, password reset): no 0/O, 1/I/L, 5/S or 8/B to confuse.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY234679"
CODE_LENGTH = 16  # 26^16: about 75 bits, for a code that lives days at most and is throttled


def new_code() -> str:
    """A random code in groups of four (`ABCD-EFGH-JKMN-PQRT`), easy to read out and type."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(typed: str) -> str:
    """The code as typed, without spaces or dashes, upper case: the form its digest is taken of."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def code_digest(typed: str) -> str:
    return digest("code:" + normalise_code(typed))
