"""Key store and rotation: an existing store is honoured, rotation publishes the new key and signs
with it, old tokens still verify, and the old key leaves the JWKS once its tokens have expired.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
from fastapi import FastAPI

from identity import cli
from servicekit.clock import FrozenClock
from servicekit.keystore import KeyStore
from servicekit.testing import TokenFactory
from tests.identity.signin_support import bearer, make_account, make_school, security, sign_in


def _kid(token: str) -> str:
    import base64

    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


async def test_rotation_without_downtime(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock, signer: TokenFactory, keys_dir: Path
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    old = (await sign_in(api, account.username)).json()["access_token"]
    assert _kid(old) == signer.key.kid
    # The operator's command, on the same folder, while identity runs.
    settings = idapp.state.settings.model_copy(update={"keys_dir": str(keys_dir)})
    new_kid = cli.rotate_key(settings, clock)
    kids = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [signer.key.kid, new_kid]
    new = (await sign_in(api, account.username)).json()["access_token"]
    assert _kid(new) == new_kid
    for token in (old, new):
        assert (await api.get("/v1/identity/users/me", headers=bearer(token))).status_code == 200
    clock.advance(seconds=600 + 30)
    kids = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [signer.key.kid, new_kid]  # still within expiry + leeway
    clock.advance(seconds=1)
    kids = [k["kid"] for k in (await api.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids == [new_kid]
    index = json.loads((keys_dir / "keys.json").read_text())
    assert index["active"] == new_kid
    assert [k["retired_at"] is None for k in index["keys"]] == [False, True]
    assert security(idapp).keys.signing_key().kid == new_kid


def test_first_start_makes_a_private_key(tmp_path: Path, clock: FrozenClock) -> None:
    store = KeyStore(tmp_path / "keys", clock)
    store.ensure()
    index = json.loads((tmp_path / "keys" / "keys.json").read_text())
    pem = tmp_path / "keys" / f"{index['active']}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    before = pem.read_text()
    KeyStore(tmp_path / "keys", clock).ensure()  # an existing store is left alone
    assert pem.read_text() == before
    jwks = store.jwks()
    assert len(jwks) == 1 and jwks[0]["alg"] == "ES256" and jwks[0]["kty"] == "EC" and "d" not in jwks[0]
