"""Identity's browser session (single sign-on): idle timeout 10 minutes, absolute 12 hours, on the
injected clock. In-process (the app's FrozenClock), the browser played by an httpx client with
its cookie jar."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from identity.clients import service as client_service
from identity.clients.schemas import ClientCreate
from servicekit.clock import FrozenClock
from tests.identity.signin_support import PASSWORD, make_account, make_school

REDIRECT = "https://rp.example/callback"


async def _client(app: FastAPI) -> tuple[str, str]:
    async with app.state.sessionmaker() as session:
        body = ClientCreate(
            name="rp", grant_types=["authorization_code", "refresh_token"], redirect_uris=[REDIRECT]
        )
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


async def _authorize(api: httpx.AsyncClient, client_id: str, **extra: str) -> httpx.Response:
    verifier = secrets.token_urlsafe(48)
    return await api.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "st",
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            **extra,
        },
    )


def _got_code(response: httpx.Response) -> bool:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    if location.startswith(REDIRECT):
        assert "code" in parse_qs(urlsplit(location).query)
        return True
    assert location.startswith("/oauth/signin?r=")
    return False


async def _sign_in(api: httpx.AsyncClient, client_id: str, username: str) -> None:
    start = await _authorize(api, client_id)
    assert not _got_code(start)
    page = await api.get(start.headers["location"])
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    handle = re.search(r'name="r" value="([^"]+)"', page.text)
    assert csrf and handle
    # Without the CSRF token the form does nothing.
    forged = await api.post(
        "/oauth/signin", data={"r": handle[1], "username": username, "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 400 and "location" not in forged.headers
    done = await api.post(
        "/oauth/signin",
        data={"r": handle[1], "username": username, "password": PASSWORD, "csrf_token": csrf[1]},
    )
    assert _got_code(done)
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Domain" not in cookie


async def test_a_session_idle_past_ten_minutes_asks_for_the_password_again(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client_id, _secret = await _client(idapp)
    await _sign_in(api, client_id, account.username)
    clock.advance(minutes=9)
    assert _got_code(await _authorize(api, client_id))  # in use: still signed in
    clock.advance(minutes=9, seconds=59)
    assert _got_code(await _authorize(api, client_id))  # each use restarts the idle clock
    clock.advance(minutes=10, seconds=1)
    assert not _got_code(await _authorize(api, client_id))  # idle past 10 minutes: sign in again


async def test_a_session_ends_twelve_hours_after_sign_in_however_busy(
    api: httpx.AsyncClient, idapp: FastAPI, clock: FrozenClock
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client_id, _secret = await _client(idapp)
    signed_in_at = clock.now()
    await _sign_in(api, client_id, account.username)
    for _ in range(12 * 6 + 5):
        clock.advance(timedelta(minutes=9, seconds=59))
        if not _got_code(await _authorize(api, client_id)):
            break
    else:
        raise AssertionError("the session outlived 12 hours")
    assert timedelta(hours=12) <= clock.now() - signed_in_at < timedelta(hours=12, minutes=10)


async def test_prompt_login_asks_for_the_password_within_a_session(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client_id, _secret = await _client(idapp)
    await _sign_in(api, client_id, account.username)
    assert _got_code(await _authorize(api, client_id))
    assert not _got_code(await _authorize(api, client_id, prompt="login"))


async def test_a_throttled_account_gets_a_clear_message_even_with_the_right_password(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    account, _seed = await make_account(idapp, ["teacher"], school_id=school)
    client_id, _secret = await _client(idapp)
    start = await _authorize(api, client_id)
    page = await api.get(start.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    handle = re.search(r'name="r" value="([^"]+)"', page.text)
    assert csrf and handle
    form = {"r": handle[1], "csrf_token": csrf[1], "username": account.username}
    for _ in range(10):
        wrong = await api.post("/oauth/signin", data={**form, "password": "wrong password"})
        assert wrong.status_code == 400 and "The username or password is wrong" in wrong.text
    refused = await api.post("/oauth/signin", data={**form, "password": PASSWORD})
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "too many failed attempts" in refused.text and "try again" in refused.text
