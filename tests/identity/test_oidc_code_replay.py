"""The attack of RFC 6749 §4.1.2 (and the OAuth 2.0 Security BCP §4.5): an authorization code used
twice. The replay is refused, and what the first exchange issued is revoked: its refresh token (and
chain), and its access tokens, through the account's not-before, at identity at once and at every
other service once its feed follower has the account's change. In-process, on the injected clock.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from identity.changes import service as change_service
from servicekit.auth import StaticKeySource, TokenVerifier
from servicekit.clock import FrozenClock
from servicekit.jwt import TokenRejected
from servicekit.models import AuditEntry
from servicekit.replica import NotBeforeIndex
from tests.identity.parents_support import rows
from tests.identity.signin_support import bearer, make_account, make_school, sign_in
from tests.identity.test_oidc_sessions import REDIRECT, _authorize, _client, _sign_in


async def _code(api: httpx.AsyncClient, client_id: str) -> tuple[str, str]:
    """A code for the browser that is signed in (its session), and the verifier of its challenge."""
    verifier = secrets.token_urlsafe(48)
    answer = await _authorize(api, client_id, code_challenge=create_s256_code_challenge(verifier))
    assert answer.status_code == 303 and answer.headers["location"].startswith(REDIRECT), answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0], verifier


async def _exchange(
    api: httpx.AsyncClient, client: tuple[str, str], code: str, verifier: str
) -> httpx.Response:
    return await api.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=client,
    )


async def _refresh(api: httpx.AsyncClient, client: tuple[str, str], token: str) -> httpx.Response:
    return await api.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=client
    )


async def another_service(app: FastAPI) -> TokenVerifier:
    """A service's token verifier (servicekit's), its not-before index filled from identity's feed
    as its follower fills it."""
    index = NotBeforeIndex()
    async with app.state.sessionmaker() as session:
        items, _, _ = await change_service.read_changes(session, cursor=None, limit=500)
    for item in items:
        if item.kind == "account":
            value = item.data.get("not_before")
            index.set(str(item.id), datetime.fromisoformat(value) if value else None)
    settings = app.state.settings
    return TokenVerifier(
        StaticKeySource(app.state.security.keys.jwks),
        issuer=settings.issuer,
        audience=settings.audience,
        clock=app.state.clock,
        not_before=index,
    )


async def _me(api: httpx.AsyncClient, token: str) -> int:
    return (await api.get("/v1/identity/users/me", headers=bearer(token))).status_code


async def test_a_replayed_code_is_refused_and_revokes_the_tokens_its_first_exchange_issued(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client = await _client(idapp)
    await _sign_in(api, client[0], account.username)
    code, verifier = await _code(api, client[0])
    first = await _exchange(api, client, code, verifier)
    assert first.status_code == 200, first.text
    access, refresh = first.json()["access_token"], first.json()["refresh_token"]
    # The first exchange's refresh token is used once: its access token must end too.
    clock.advance(seconds=20)
    refreshed = await _refresh(api, client, refresh)
    assert refreshed.status_code == 200, refreshed.text
    later_access, later_refresh = refreshed.json()["access_token"], refreshed.json()["refresh_token"]
    assert await _me(api, access) == 200 and await _me(api, later_access) == 200
    await (await another_service(idapp)).verify(access)  # accepted before the replay
    # The replay comes within the same second as the last token: refused, and everything revoked.
    replay = await _exchange(api, client, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await _me(api, access) == 401 and await _me(api, later_access) == 401
    service = await another_service(idapp)
    for token in (access, later_access):
        with pytest.raises(TokenRejected):
            await service.verify(token)
    for token in (refresh, later_refresh):
        again = await _refresh(api, client, token)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    (entry,) = await rows(idapp, AuditEntry, action="signin.code_reused")
    assert entry.detail == {"client_id": client[0], "access_tokens_revoked": True}
    # The person signs in again and works.
    clock.advance(seconds=1)
    fresh = await sign_in(api, account.username)
    assert fresh.status_code == 200 and await _me(api, fresh.json()["access_token"]) == 200


async def test_a_replay_after_every_token_of_the_code_has_expired_signs_nobody_out(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client = await _client(idapp)
    await _sign_in(api, client[0], account.username)
    code, verifier = await _code(api, client[0])
    assert (await _exchange(api, client, code, verifier)).status_code == 200
    lifetime = idapp.state.settings.access_token_seconds
    clock.advance(timedelta(seconds=lifetime + 31))
    other = await sign_in(api, account.username)  # a session of the account that the code never made
    assert other.status_code == 200
    replay = await _exchange(api, client, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # An old code (from a log, say) cannot be used to sign the person out everywhere.
    assert await _me(api, other.json()["access_token"]) == 200
    assert (await _refresh(api, client, other.json()["refresh_token"])).status_code == 200
    (entry,) = await rows(idapp, AuditEntry, action="signin.code_reused")
    assert entry.detail["access_tokens_revoked"] is False
