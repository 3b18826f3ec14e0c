"""The service's receipt-signing key: created on first start, kept on disk, published as a JWKS.

Files in the keys folder: `<kid>.pem` (the private key, mode 600) and `keys.json`
`{"active": "<kid>", "keys": ["<kid>", ...]}`. Every listed key is published, so a receipt signed
before a rotation still verifies; only the active key signs.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servicekit.jwt import SigningKey, generate_private_key_pem, public_jwk


class ReceiptKeys:
    def __init__(self, active: SigningKey, published: list[dict[str, Any]]) -> None:
        self.active = active
        self.published = published

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.published}


def _write_private(path: Path, pem: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)


def load_or_create(folder: str | Path) -> ReceiptKeys:
    """The keys in `folder`; a new key (and the folder) on first start."""
    root = Path(folder)
    index = root / "keys.json"
    if not index.exists():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        kid = f"media-consent-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"
        _write_private(root / f"{kid}.pem", generate_private_key_pem())
        tmp = root / "keys.json.tmp"
        tmp.write_text(json.dumps({"active": kid, "keys": [kid]}))
        tmp.replace(index)
    data = json.loads(index.read_text())
    active_kid = str(data["active"])
    kids = [str(k) for k in data.get("keys", [])]
    if active_kid not in kids:
        kids.append(active_kid)
    published = []
    active: SigningKey | None = None
    for kid in kids:
        if "/" in kid or kid.startswith("."):
            raise ValueError(f"bad key id in {index}")
        pem = (root / f"{kid}.pem").read_text()
        published.append(public_jwk(pem, kid))
        if kid == active_kid:
            active = SigningKey(pem, kid)
    assert active is not None
    return ReceiptKeys(active, published)
