"""The token endpoint: grants, claims, RFC 6749 errors, refresh rotation, idle/absolute limits, revocation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
from fastapi import FastAPI

from identity.clients import service as client_service
from identity.clients.schemas import ClientCreate
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory
from tests.identity.signin_support import (
    bearer,
    make_account,
    make_school,
    security,
    sign_in,
)


def _part(token: str, index: int) -> dict:
    raw = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


async def _client(app: FastAPI, scopes: list[str], school_id=None, la_code=None) -> tuple[str, str]:
    async with app.state.sessionmaker() as session:
        body = ClientCreate(name="MIS", scopes=scopes, school_id=school_id, la_code=la_code)
        client, secret = await client_service.create(
            session,
            body=body,
            actor="system:test",
            now=app.state.clock.now(),
            check_backchannel=app.state.security.check_backchannel,
        )
        await session.commit()
    assert secret is not None
    return client.client_id, secret


async def test_client_credentials_with_basic_or_form(api: httpx.AsyncClient, idapp: FastAPI, signer) -> None:
    school = await make_school(idapp)
    cid, secret = await _client(idapp, ["phones:read", "phones:write", "people:read"], school_id=school)
    basic = await api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    form = await api.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": cid,
            "client_secret": secret,
            "scope": "phones:read",
        },
    )
    assert basic.status_code == 200, basic.text
    assert form.status_code == 200
    body = basic.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "people:read phones:read phones:write"
    assert "refresh_token" not in body
    assert basic.headers["cache-control"] == "no-store"
    assert form.json()["scope"] == "phones:read"
    header, claims = _part(body["access_token"], 0), _part(body["access_token"], 1)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": signer.key.kid}
    assert claims["client_id"] == cid and claims["sub"] == f"client:{cid}"
    assert claims["school_id"] == str(school)
    assert claims["iss"] == "http://127.0.0.1:8000" and claims["aud"] == "esafety-platform"
    assert claims["exp"] - claims["iat"] == 600
    assert {"jti", "scope"} <= set(claims)
    assert "roles" not in claims


async def test_client_authentication_failures(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    cid, secret = await _client(idapp, ["consent:check"], school_id=school)
    wrong = await api.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret + "x")
    )
    unknown = await api.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", secret)
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.headers["content-type"] == "application/json"
    scope = await api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consent:check phones:write"},
        auth=(cid, secret),
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"


async def test_malformed_requests_get_rfc6749_errors(api: httpx.AsyncClient) -> None:
    cases = [
        ({"data": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}}, "unsupported_grant_type"),
        ({"data": {}}, "invalid_request"),
        ({"json": {"grant_type": "client_credentials"}}, "invalid_request"),
        ({"data": {"grant_type": "password", "username": "x"}}, "invalid_request"),
        (
            {
                "content": "grant_type=password&grant_type=client_credentials",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
        ),
    ]
    for kwargs, error in cases:
        response = await api.post("/oauth/token", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 400, (kwargs, response.text)
        assert response.json()["error"] == error
        assert "error_description" in response.json()


async def test_person_token_claims_and_refresh_token_is_not_an_access_token(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    response = await sign_in(api, account.username.upper())  # usernames are case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    claims = _part(body["access_token"], 1)
    assert claims["sub"] == str(account.id)
    assert claims["roles"] == ["teacher"]
    assert claims["person_id"] == str(account.person_id)
    assert claims["school_id"] == str(school)
    assert "client_id" not in claims
    assert body["refresh_token"].startswith("rt_")
    me = await api.get("/v1/identity/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == str(account.id)
    refused = await api.get("/v1/identity/users/me", headers=bearer(body["refresh_token"]))
    assert refused.status_code == 401


async def test_a_narrower_scope_may_be_asked_for_but_not_a_wider_one(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    narrow = await sign_in(api, account.username, scope="people:read")
    wide = await sign_in(api, account.username, scope="people:read users:write")
    assert narrow.json()["scope"] == "people:read"
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"


async def test_refresh_rotates_and_reuse_revokes_the_chain(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    first = (await sign_in(api, account.username)).json()["refresh_token"]
    second = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first})
    assert second.status_code == 200
    newer = second.json()["refresh_token"]
    assert newer != first
    # A thief replays the spent token: refused, and the holder's newer token dies with the chain.
    replay = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": newer})
    assert after.status_code == 400
    audit = await api.get(
        "/v1/identity/audit",
        params={"action": "signin.refresh_reused"},
        headers=_admin(idapp),
    )
    assert len(audit.json()["items"]) == 1


def _admin(app: FastAPI) -> dict[str, str]:
    from tests.identity.signin_support import person_headers

    return person_headers(app.state.test_signer, "platform_admin")


async def test_idle_limit_ends_the_session(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["refresh_token"]
    clock.advance(minutes=9, seconds=59)
    ok = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token})
    assert ok.status_code == 200
    clock.advance(minutes=10)
    idle = await api.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"]}
    )
    assert idle.status_code == 400 and idle.json()["error"] == "invalid_grant"


async def test_absolute_limit_is_twelve_hours(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    start = clock.now()
    token = (await sign_in(api, account.username)).json()["refresh_token"]
    while clock.now() < start + timedelta(hours=11, minutes=50):
        clock.advance(minutes=9)
        response = await api.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )
        assert response.status_code == 200, clock.now() - start
        token = response.json()["refresh_token"]
        # Never an access token that outlives the session.
        assert response.json()["expires_in"] <= (start + timedelta(hours=12) - clock.now()).total_seconds()
    clock.set(start + timedelta(hours=12, seconds=1))
    response = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token})
    assert response.status_code == 400


async def test_revocation_ends_the_chain(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["refresh_token"]
    revoked = await api.post("/oauth/revoke", data={"token": token})
    assert revoked.status_code == 200
    unknown = await api.post("/oauth/revoke", data={"token": "rt_not-a-token"})
    assert unknown.status_code == 200
    refused = await api.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token})
    assert refused.status_code == 400


async def test_server_metadata_and_jwks(api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory) -> None:
    meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == "http://127.0.0.1:8000"
    assert meta["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert meta["jwks_uri"] == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == "http://127.0.0.1:8000/oauth/revoke"
    assert set(meta["grant_types_supported"]) == {"client_credentials", "password", "refresh_token"}
    assert "identity:feed" in meta["scopes_supported"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    jwks = (await api.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [signer.key.kid]
    assert all("d" not in k and "p" not in k for k in jwks["keys"])
    assert security(idapp).keys.signing_key().kid == signer.key.kid
