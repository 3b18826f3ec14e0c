"""Pseudonyms for people in the LA export: HMAC-SHA256 over (LA code, person id).

Stable for one LA (its reports can follow a child over time), different between LAs (two LAs
cannot join their data on it), and not reversible without the service's secret. They are computed
when exported, never stored: a copy of the database (a backup) must not map an LA's pseudonyms
back to people.
"""

from __future__ import annotations

import hashlib
import uuid

# Pseudonyms kept in memory (about 200 bytes each): an LA's pupils repeat across its incidents,
# while the cap keeps an export of any size at flat memory.
CACHE_ENTRIES = 50_000


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        # HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), with K padded to SHA-256's 64-byte block.
        key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
        key = key.ljust(64, b"\0")
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._keyed: dict[str, hashlib._Hash] = {}
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, la_code: str, person_id: uuid.UUID | str) -> str:
        """`person_id` as a UUID or its canonical text (lower-case, with hyphens)."""
        key = (la_code, str(person_id))
        value = self._cache.get(key)
        if value is None:
            # The same HMAC as `hmac.digest(secret, f"{la_code}\x1f{person_id}", "sha256")`, from
            # hash states that hold the padded key (and the LA's prefix) already: half the work
            # per person, and the export hashes a few hundred thousand of them.
            inner = self._keyed.get(la_code)
            if inner is None:
                inner = self._inner.copy()
                inner.update(f"{la_code}\x1f".encode())
                self._keyed[la_code] = inner
            mac = inner.copy()
            mac.update(key[1].encode())
            outer = self._outer.copy()
            outer.update(mac.digest())
            value = outer.hexdigest()[:32]
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = value
        return value
