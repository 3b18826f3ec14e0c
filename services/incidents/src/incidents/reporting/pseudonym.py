"""Pseudonyms for people in the LA export: HMAC-SHA256 over (LA code, person id).

Stable for one LA (its reports can follow a child over time), different between LAs (two LAs
cannot join their data on it), and not reversible without the service's secret. They are computed
when exported, never stored: a copy of the database (a backup) must not map an LA's pseudonyms
back to people.
"""

from __future__ import annotations

import hashlib
import uuid


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        # HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), K padded to SHA-256's 64-byte block.
        # Keeping both hash states keyed (and the inner one fed the LA's prefix) halves the work
        # per person, and an export hashes a few hundred thousand of them.
        key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
        key = key.ljust(64, b"\0")
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._keyed: dict[str, hashlib._Hash] = {}

    def __call__(self, la_code: str, person_id: uuid.UUID | str) -> str:
        """`person_id` as a UUID or its canonical text (lower-case, with hyphens).

        The same value as `hmac.digest(secret, f"{la_code}\\x1f{person_id}", "sha256").hex()[:32]`.
        """
        inner = self._keyed.get(la_code)
        if inner is None:
            inner = self._inner.copy()
            inner.update(f"{la_code}\x1f".encode())
            self._keyed[la_code] = inner
        mac = inner.copy()
        mac.update(str(person_id).encode())
        outer = self._outer.copy()
        outer.update(mac.digest())
        return outer.hexdigest()[:32]
