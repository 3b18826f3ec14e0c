"""A key store made when the platform signed with RS256 holds RSA keys: on first use it rotates to
an ES256 key, publishes only ES256 keys, and an old RS256 token is refused; the RSA key's file stays."""

from __future__ import annotations

import json
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.auth import TokenVerifier
from servicekit.clock import FrozenClock
from servicekit.jwt import TokenRejected, is_pinned_key
from servicekit.keystore import KeyStore, StoreKeySource
from servicekit.testing import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from tests.kit.test_tokens import claims_for

RSA_KID = "20240101-0badc0de"


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def rsa_store(tmp_path: Path, clock: FrozenClock) -> tuple[Path, str]:
    pem = rsa_pem()
    KeyStore.install(tmp_path / "keys", pem, RSA_KID, clock.now())
    return tmp_path / "keys", pem


@pytest.mark.parametrize("first_use", ["signing_key", "ensure"])
@pytest.mark.parametrize("token_seconds", [600, None])  # identity's tokens; media-consent's receipts
def test_a_store_of_rsa_keys_rotates_to_es256_and_publishes_only_it(
    rsa_store: tuple[Path, str], clock: FrozenClock, first_use: str, token_seconds: int | None
) -> None:
    folder, pem = rsa_store
    store = KeyStore(folder, clock, token_seconds=token_seconds)
    if first_use == "ensure":
        store.ensure()
    key = store.signing_key()
    assert key.kid != RSA_KID
    assert is_pinned_key(key.pem)
    jwks = store.jwks()
    assert [(j["kid"], j["kty"], j["crv"], j["alg"]) for j in jwks] == [(key.kid, "EC", "P-256", "ES256")]
    assert [k.kid for k in store.published()] == [key.kid]
    # The RSA key is retired, not deleted; the next use rotates no further.
    index = json.loads((folder / "keys.json").read_text())
    assert index["active"] == key.kid
    assert [(k["kid"], k["retired_at"] is None) for k in index["keys"]] == [(RSA_KID, False), (key.kid, True)]
    assert (folder / f"{RSA_KID}.pem").read_text() == pem
    again = KeyStore(folder, clock, token_seconds=token_seconds)
    again.ensure()
    assert again.signing_key().kid == key.kid
    assert [j["kid"] for j in again.jwks()] == [key.kid]


async def test_an_old_rs256_token_is_refused_and_a_new_one_verifies(
    rsa_store: tuple[Path, str], clock: FrozenClock
) -> None:
    folder, pem = rsa_store
    old = pyjwt.encode(claims_for(clock), pem, algorithm="RS256", headers={"kid": RSA_KID, "typ": "at+jwt"})
    store = KeyStore(folder, clock)
    verifier = TokenVerifier(
        StoreKeySource(store), issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, clock=clock
    )
    with pytest.raises(TokenRejected):
        await verifier.verify(old)
    # Not only for its algorithm: the RSA key is no verification key at all any more.
    assert await StoreKeySource(store).get(RSA_KID) is None
    new = store.signing_key().sign(claims_for(clock), typ="at+jwt")
    assert (await verifier.verify(new)).subject
