"""The service's receipt-signing key, in servicekit's key store (`<kid>.pem` mode 600 + keys.json):
created on first start, published as a JWKS. Receipts are evidence, so a retired key stays
published for ever and an old receipt still verifies after a rotation; only the active key signs.
"""

from __future__ import annotations

from pathlib import Path

from servicekit.clock import Clock
from servicekit.keystore import KeyStore


def load_or_create(folder: str | Path, clock: Clock) -> KeyStore:
    store = KeyStore(folder, clock, token_seconds=None, kid_prefix="media-consent-")
    store.ensure()
    return store
