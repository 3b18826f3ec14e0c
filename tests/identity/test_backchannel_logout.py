"""OpenID Connect back-channel logout and SSRF (SECURITY.md "Outbound calls"): a client's
backchannel_logout_uri goes through the platform's one outbound guard (servicekit.outbound) at
registration and again at every sign-out. In-process, with a real HTTP receiver on 127.0.0.1 and
the tests' resolver (names map to addresses the test sets; nothing goes to DNS)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings
from identity.main import create_app
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, rollback_sessions
from tests.identity.signin_support import client_from, make_account, make_school, person_headers, security
from tests.identity.test_oidc_sessions import REDIRECT, _sign_in
from tests.webhook_receiver import Names, WebhookReceiver

CLIENTS = "/v1/identity/clients"


async def _app(database_for, clock, signer, keys_dir: Path, **settings: Any) -> AsyncIterator[FastAPI]:
    url = database_for("identity")
    application = create_app(
        IdentitySettings(database_url=url, environment="test", keys_dir=str(keys_dir), **settings),
        clock=clock,
    )
    security(application).backchannel_resolver = Names()
    signer.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def strict_app(
    database_for, clock: FrozenClock, signer: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    """The test (and production) environment's rule: loopback is not a target."""
    async for application in _app(database_for, clock, signer, keys_dir):
        yield application


@pytest.fixture
async def loopback_app(
    database_for, clock: FrozenClock, signer: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    """The development rule: loopback targets allowed (where the tests' receivers listen)."""
    async for application in _app(database_for, clock, signer, keys_dir, backchannel_allow_loopback=True):
        yield application


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _names(app: FastAPI) -> dict[str, str]:
    resolver = security(app).backchannel_resolver
    assert isinstance(resolver, Names)
    return resolver.names


async def _register(api: httpx.AsyncClient, signer: TokenFactory, backchannel_uri: str) -> httpx.Response:
    return await api.post(
        CLIENTS,
        json={
            "name": "Learning platform",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "backchannel_logout_uri": backchannel_uri,
            "scopes": ["incidents:read"],
        },
        headers=person_headers(signer, "platform_admin"),
    )


async def _sign_in_and_out(app: FastAPI, client_id: str) -> None:
    """A teacher signs in to the client through the browser, then signs out (the confirm form)."""
    school = await make_school(app)
    account, _seed = await make_account(app, ["teacher"], school_id=school)
    async with client_from(app, "203.0.113.7") as browser:
        await _sign_in(browser, client_id, account.username)
        page = await browser.get("/oauth/logout")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf, page.text
        done = await browser.post("/oauth/logout", data={"csrf_token": csrf[1]})
        assert done.status_code == 200 and "You have signed out" in done.text


# --- at registration: refused before anything is stored ---------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://169.254.169.254/",
        "http://10.0.0.1/",
        "https://10.0.0.1/logout",
        "https://[::ffff:10.0.0.1]/logout",
        "https://192.168.1.10/logout",
        "https://[fd00:ec2::254]/",
        "https://rp.example/backchannel",  # resolves to 127.0.0.1 (below); loopback is not allowed here
        "https://localhost/backchannel",
        "http://127.0.0.1:8080/backchannel",
        "https://user:pass@lms.example.org/backchannel",
    ],
)
async def test_a_backchannel_uri_on_a_private_address_is_refused_at_registration(
    strict_app: FastAPI, signer: TokenFactory, uri: str
) -> None:
    _names(strict_app)["rp.example"] = "127.0.0.1"
    async with client_from(strict_app, "203.0.113.7") as api:
        response = await _register(api, signer, uri)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("backchannel-logout-uri-refused")
        assert problem["errors"][0]["field"] == "body.backchannel_logout_uri"
        assert "10.0.0.1" not in problem["detail"] and "127.0.0.1" not in problem["detail"]
        listed = await api.get(CLIENTS, headers=person_headers(signer, "platform_admin"))
        assert listed.json()["items"] == []


async def test_a_backchannel_uri_on_a_public_address_is_registered(
    strict_app: FastAPI, signer: TokenFactory
) -> None:
    _names(strict_app)["lms.example.org"] = "93.184.216.34"
    async with client_from(strict_app, "203.0.113.7") as api:
        response = await _register(api, signer, "https://lms.example.org/backchannel")
    assert response.status_code == 201, response.text
    assert response.json()["backchannel_logout_uri"] == "https://lms.example.org/backchannel"


# --- at each sign-out: checked again, sent to the checked address ------------------------------------


async def test_sign_out_reaches_the_clients_backchannel_uri_at_the_checked_address(
    loopback_app: FastAPI, signer: TokenFactory, receiver: WebhookReceiver
) -> None:
    # The name exists only in the test's resolver: the call goes to the address it was checked at.
    _names(loopback_app)["lms.test"] = "127.0.0.1"
    port = receiver.url.split(":")[2].split("/")[0]
    async with client_from(loopback_app, "203.0.113.7") as api:
        made = await _register(api, signer, f"http://lms.test:{port}/rp/backchannel")
    assert made.status_code == 201, made.text
    await _sign_in_and_out(loopback_app, made.json()["client_id"])
    [got] = receiver.requests
    assert got.path == "/rp/backchannel" and got.headers["host"] == f"lms.test:{port}"
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    token = parse_qs(got.body.decode())["logout_token"][0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == made.json()["client_id"]
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]


async def test_a_name_rebound_to_loopback_after_registration_is_not_called(
    strict_app: FastAPI, signer: TokenFactory, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    names = _names(strict_app)
    names["lms.example.org"] = "93.184.216.34"  # public at registration (nothing connects to it)
    port = receiver.url.split(":")[2].split("/")[0]
    async with client_from(strict_app, "203.0.113.7") as api:
        made = await _register(api, signer, f"https://lms.example.org:{port}/rp/backchannel")
    assert made.status_code == 201, made.text
    names["lms.example.org"] = "127.0.0.1"  # ...and loopback by the time of the sign-out (DNS rebinding)
    with caplog.at_level(logging.WARNING, logger="identity.oidc"):
        await _sign_in_and_out(strict_app, made.json()["client_id"])
    assert receiver.requests == []
    assert f"back-channel logout to {made.json()['client_id']} not sent: target refused" in caplog.text


async def test_a_name_rebound_to_a_private_address_is_not_called(
    strict_app: FastAPI, signer: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    names = _names(strict_app)
    names["lms.example.org"] = "93.184.216.34"
    async with client_from(strict_app, "203.0.113.7") as api:
        made = await _register(api, signer, "https://lms.example.org/rp/backchannel")
    assert made.status_code == 201, made.text
    names["lms.example.org"] = "169.254.169.254"
    with caplog.at_level(logging.WARNING, logger="identity.oidc"):
        await _sign_in_and_out(strict_app, made.json()["client_id"])
    assert "target refused" in caplog.text and "169.254" not in caplog.text


async def test_a_redirect_from_the_backchannel_uri_is_not_followed(
    loopback_app: FastAPI, signer: TokenFactory, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with WebhookReceiver() as elsewhere:
        receiver.statuses = [307]
        receiver.redirect_to = elsewhere.url
        async with client_from(loopback_app, "203.0.113.7") as api:
            made = await _register(api, signer, receiver.url)
        assert made.status_code == 201, made.text
        with caplog.at_level(logging.WARNING, logger="identity.oidc"):
            await _sign_in_and_out(loopback_app, made.json()["client_id"])
        assert len(receiver.requests) == 1 and elsewhere.requests == []
        assert "redirect not followed" in caplog.text


async def test_loopback_targets_need_the_development_setting_which_production_refuses() -> None:
    assert IdentitySettings(environment="development").backchannel_allow_loopback is True
    assert IdentitySettings(environment="test").backchannel_allow_loopback is False
    secrets: dict[str, Any] = {"totp_key": "t" * 32, "feed_client_secret": "f" * 32}
    assert IdentitySettings(environment="production", **secrets).backchannel_allow_loopback is False
    with pytest.raises(ValueError, match="backchannel_allow_loopback"):
        IdentitySettings(environment="production", backchannel_allow_loopback=True, **secrets)
