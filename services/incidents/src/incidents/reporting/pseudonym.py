"""Pseudonyms for people in the LA export: HMAC-SHA256 over (LA code, person id).

Stable for one LA (its reports can follow a child over time), different between LAs (two LAs
cannot join their data on it), and not reversible without the service's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._cache: dict[tuple[str, uuid.UUID], str] = {}

    def __call__(self, la_code: str, person_id: uuid.UUID) -> str:
        key = (la_code, person_id)
        value = self._cache.get(key)
        if value is None:
            message = f"{la_code}\x1f{person_id}".encode()
            value = hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = value
        return value
