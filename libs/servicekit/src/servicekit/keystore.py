"""A signing-key store: a folder of PKCS8 PEM files and `keys.json` (identity's token keys,
media-consent's receipt keys).

    <dir>/<kid>.pem   (mode 600)
    <dir>/keys.json   {"active": "<kid>", "keys": [{"kid", "created_at", "retired_at"}]}

The store is read again whenever `keys.json` changes on disk, so a running identity picks up a
rotation (`python -m identity.cli rotate-key`) without a restart. A retired key stays published
until every token it signed has expired (token lifetime + leeway after retirement), or for ever
when what it signed is kept as evidence (`token_seconds=None`, consent receipts).
A new key is written (PEM first, then the index, atomically) before anything signs with it, and it
is in the JWKS from the same moment: verifiers that meet its kid refresh their copy of the JWKS.

Only keys of the pinned algorithm (ES256, see `servicekit.jwt`) are used. A store made when the
platform used RS256 holds RSA keys: on first use (`signing_key()`, `ensure()`) a store whose active
key is not an ES256 key rotates to a new ES256 key, and keys of another kind are never published
nor used to verify, so an old RS256 access token is refused (it would have expired within
minutes anyway). Their files stay on disk and in `keys.json` (retired); nothing is deleted.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from servicekit.auth import KeySource
from servicekit.clock import Clock
from servicekit.jwt import (
    LEEWAY_SECONDS,
    SigningKey,
    VerificationKey,
    generate_private_key_pem,
    is_pinned_key,
)

INDEX = "keys.json"
ACCESS_TOKEN_SECONDS = 600


class KeyStoreError(RuntimeError):
    """The key store on disk is unusable (missing active key, unreadable file)."""


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: datetime
    retired_at: datetime | None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def new_kid(now: datetime) -> str:
    return f"{now:%Y%m%d}-{secrets.token_hex(4)}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _write_index(directory: Path, active: str, keys: list[KeyInfo]) -> None:
    data = {
        "active": active,
        "keys": [
            {
                "kid": k.kid,
                "created_at": k.created_at.isoformat(),
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
            }
            for k in keys
        ],
    }
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keys-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, directory / INDEX)


class KeyStore:
    def __init__(
        self,
        directory: str | Path,
        clock: Clock,
        *,
        token_seconds: int | None = ACCESS_TOKEN_SECONDS,
        kid_prefix: str = "",
    ) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self.kid_prefix = kid_prefix
        self.publish_for = (
            timedelta(seconds=token_seconds + LEEWAY_SECONDS) if token_seconds is not None else None
        )
        self._stamp: tuple[int, int, int] | None = None
        self._active = ""
        self._keys: list[KeyInfo] = []
        self._signing: dict[str, SigningKey] = {}
        self._pinned: dict[str, bool] = {}
        self._public: dict[str, dict[str, str]] = {}

    # --- reading -----------------------------------------------------------------------------

    def _reload_if_changed(self) -> None:
        try:
            stat = (self.directory / INDEX).stat()
        except FileNotFoundError:
            self.ensure()
            stat = (self.directory / INDEX).stat()
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads((self.directory / INDEX).read_text())
            keys = [
                KeyInfo(
                    str(k["kid"]),
                    _parse_time(k["created_at"]) or self.clock.now(),
                    _parse_time(k.get("retired_at")),
                )
                for k in data["keys"]
            ]
            active = str(data["active"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"{self.directory / INDEX} is not a valid key index") from exc
        if active not in {k.kid for k in keys}:
            raise KeyStoreError(f"the active key {active!r} is not listed in {INDEX}")
        self._keys, self._active, self._stamp = keys, active, stamp

    def _signing_key(self, kid: str) -> SigningKey:
        key = self._signing.get(kid)
        if key is None:
            path = self.directory / f"{kid}.pem"
            try:
                key = SigningKey(path.read_text(), kid=kid)
            except (OSError, ValueError) as exc:
                raise KeyStoreError(f"cannot read {path} as a signing key") from exc
            self._signing[kid] = key
        return key

    def _is_pinned(self, kid: str) -> bool:
        """Whether the key `kid` is of the pinned algorithm (False: an RSA key from before ES256)."""
        pinned = self._pinned.get(kid)
        if pinned is None:
            path = self.directory / f"{kid}.pem"
            try:
                pinned = is_pinned_key(path.read_text())
            except (OSError, ValueError) as exc:
                raise KeyStoreError(f"cannot read {path} as a private key") from exc
            self._pinned[kid] = pinned
        return pinned

    def signing_key(self) -> SigningKey:
        """The active key: what identity signs with now. An active key of another algorithm (an
        RSA key from before ES256) is first replaced by a new ES256 key (`rotate`)."""
        self._reload_if_changed()
        if not self._is_pinned(self._active):
            self.rotate()
            self._reload_if_changed()
        return self._signing_key(self._active)

    def all_keys(self) -> list[KeyInfo]:
        """Every key in the index, published or not."""
        self._reload_if_changed()
        return list(self._keys)

    def published(self) -> list[KeyInfo]:
        """Keys in the JWKS: the active one, and retired ones whose tokens may still be valid;
        only keys of the pinned algorithm (never an RSA key from before ES256)."""
        self._reload_if_changed()
        now = self.clock.now()
        return [
            k
            for k in self._keys
            if (
                k.kid == self._active
                or k.retired_at is None
                or self.publish_for is None
                or now <= k.retired_at + self.publish_for
            )
            and self._is_pinned(k.kid)
        ]

    def jwks(self) -> list[dict[str, str]]:
        out = []
        for info in self.published():
            jwk = self._public.get(info.kid)
            if jwk is None:
                jwk = self._signing_key(info.kid).public_jwk()
                self._public[info.kid] = jwk
            out.append(jwk)
        return out

    # --- writing -----------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the folder and a first key when there is no store yet; leave an existing one,
        except that an active key of another algorithm is replaced (see `signing_key`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if (self.directory / INDEX).exists():
            self.signing_key()
            return
        now = self.clock.now()
        kid = self.kid_prefix + new_kid(now)
        _write_private(self.directory / f"{kid}.pem", generate_private_key_pem())
        _write_index(self.directory, kid, [KeyInfo(kid, now, None)])

    def rotate(self) -> str:
        """Add a new key and make it active; the old one is retired (published until its tokens expire)."""
        self._reload_if_changed()
        now = self.clock.now()
        kid = self.kid_prefix + new_kid(now)
        _write_private(self.directory / f"{kid}.pem", generate_private_key_pem())
        keys = [
            KeyInfo(k.kid, k.created_at, k.retired_at or (now if k.kid == self._active else None))
            for k in self._keys
        ]
        keys.append(KeyInfo(kid, now, None))
        _write_index(self.directory, kid, keys)
        self._stamp = None
        return kid

    @staticmethod
    def install(directory: str | Path, private_key_pem: str, kid: str, created_at: datetime) -> None:
        """Write a store holding one given key (tests and migrations from another key holder)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        _write_private(path / f"{kid}.pem", private_key_pem)
        _write_index(path, kid, [KeyInfo(kid, created_at, None)])


class StoreKeySource(KeySource):
    """Verification straight from a store (identity verifies its own tokens without HTTP)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._cache: dict[str, VerificationKey] = {}

    async def get(self, kid: str) -> VerificationKey | None:
        if kid not in {k.kid for k in self.store.published()}:
            return None
        key = self._cache.get(kid)
        if key is None:
            jwk = next((j for j in self.store.jwks() if j["kid"] == kid), None)
            if jwk is None:
                return None
            key = VerificationKey(jwk)
            self._cache[kid] = key
        return key
