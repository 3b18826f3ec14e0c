"""Pseudonyms for people in the LA export: HMAC-SHA256 over (LA code, person id).

Stable for one LA (its reports can follow a child over time), different between LAs (two LAs
cannot join their data on it), and not reversible without the service's secret.
"""

from __future__ import annotations

import hmac
import uuid


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, la_code: str, person_id: uuid.UUID | str) -> str:
        """`person_id` as a UUID or its canonical text (lower-case, with hyphens)."""
        key = (la_code, str(person_id))
        value = self._cache.get(key)
        if value is None:
            message = f"{la_code}\x1f{key[1]}".encode()
            value = hmac.digest(self._secret, message, "sha256").hex()[:32]
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = value
        return value
