"""Identity as a real process on loopback, used the way an outside system would: authlib's OAuth2
client gets tokens, PyJWT verifies them from the live JWKS, the bootstrap admin signs in with TOTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pyotp
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from servicekit.clock import SystemClock
from servicekit.jwt import generate_private_key_pem
from servicekit.keystore import KeyStore
from servicekit.testing import ServiceProcess, free_port

pytestmark = pytest.mark.processes

ADMIN_SEED = pyotp.random_base32()
FEED_SECRET = "feed-secret-for-the-process-test"


@pytest.fixture(scope="module")
def identity(database_for, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("identity-process")
    keys = tmp / "keys"
    # The test's own key, in the store's format: identity must honour it, not make another.
    KeyStore.install(keys, generate_private_key_pem(), "process-test-key", SystemClock().now())
    env = {
        "IDENTITY_DATABASE_URL": database_for("identity"),
        "IDENTITY_KEYS_DIR": str(keys),
        "IDENTITY_SERVICE_CLIENTS": (
            f'[{{"client_id": "devices-feed", "client_secret": "{FEED_SECRET}", "scopes": ["identity:feed"]}}]'
        ),
        "BOOTSTRAP_ADMIN_USERNAME": "first-admin",
        "BOOTSTRAP_ADMIN_PASSWORD": "a long bootstrap passphrase",
        "BOOTSTRAP_ADMIN_TOTP_SECRET": ADMIN_SEED,
        "ENVIRONMENT": "test",
    }
    process = ServiceProcess("identity", "identity.main:create_app", free_port(), env, tmp / "identity.log")
    process.start()
    yield process
    process.stop()


def test_outside_system_gets_and_verifies_a_token(identity: ServiceProcess) -> None:
    meta = httpx.get(identity.url + "/.well-known/oauth-authorization-server").json()
    with OAuth2Client("devices-feed", FEED_SECRET, scope="identity:feed") as client:
        token = client.fetch_token(identity.url + "/oauth/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] <= 600
    jwks = jwt.PyJWKClient(identity.url + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token["access_token"])
    assert key.key_id == "process-test-key"
    claims = jwt.decode(
        token["access_token"],
        key,
        algorithms=["ES256"],
        audience="esafety-platform",
        issuer=meta["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    assert claims["client_id"] == "devices-feed" and claims["scope"] == "identity:feed"
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    feed = httpx.get(
        identity.url + "/v1/identity/changes", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert feed.status_code == 200


def test_wrong_secret_and_scope_are_refused(identity: ServiceProcess) -> None:
    with OAuth2Client("devices-feed", "not-the-secret") as client, pytest.raises(OAuthError) as wrong:
        client.fetch_token(identity.url + "/oauth/token", grant_type="client_credentials")
    assert wrong.value.error == "invalid_client"
    with (
        OAuth2Client("devices-feed", FEED_SECRET, scope="users:write") as client,
        pytest.raises(OAuthError) as scope,
    ):
        client.fetch_token(identity.url + "/oauth/token", grant_type="client_credentials")
    assert scope.value.error == "invalid_scope"


def test_bootstrap_admin_signs_in_with_totp(identity: ServiceProcess) -> None:
    form = {"grant_type": "password", "username": "first-admin", "password": "a long bootstrap passphrase"}
    without = httpx.post(identity.url + "/oauth/token", data=form)
    assert without.status_code == 400 and "one-time code" in without.json()["error_description"]
    signed = httpx.post(identity.url + "/oauth/token", data={**form, "otp": pyotp.TOTP(ADMIN_SEED).now()})
    assert signed.status_code == 200, signed.text
    me = httpx.get(
        identity.url + "/v1/identity/users/me",
        headers={"Authorization": f"Bearer {signed.json()['access_token']}"},
    )
    assert me.json()["roles"] == ["platform_admin"] and me.json()["person_id"] is None
