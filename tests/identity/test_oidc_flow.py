"""People sign in through the browser: identity as an OpenID Connect provider, end to end.

A running platform (identity and the gateway as processes, real HTTP), Authlib's client as the
relying party, Debian's Chromium driven by Playwright as the person's browser. The relying party's
redirect_uri is served by the test itself (Playwright answers the callback), so nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from identity.security import totp
from servicekit.testing import drop_test_database
from tests.browser import assert_accessible
from tests.platform import RunningPlatform, SchoolKit, start_platform

pytestmark = pytest.mark.processes

PASSWORD = "correct horse battery staple"


class _Callbacks(http.server.BaseHTTPRequestHandler):
    """The relying parties' pages on 127.0.0.1: each request's URL is kept, the answer is a page."""

    seen: list[str] = []
    logouts: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/rp/"):  # not the browser's /favicon.ico
            host = self.headers.get("Host", "")
            type(self).seen.append(f"http://{host}{self.path}")
        body = b"<!DOCTYPE html><html lang=en><title>RP</title><p>back</p></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        """Back-channel logout: keep the logout_token."""
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        type(self).logouts.append((self.path, form.get("logout_token", [""])[0]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def rp_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callbacks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def oidc_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    runner, tokens = start_platform(Path(tmp_path_factory.mktemp("oidc")), services="identity")
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        yield RunningPlatform(runner, tokens, gateway)
    finally:
        gateway.close()
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


@dataclass
class RelyingParty:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass
class Person:
    username: str
    totp_secret: str | None


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 400, response.text
    return response.json()


def register(platform: RunningPlatform, base: str, name: str, **extra: Any) -> RelyingParty:
    redirect = f"{base}/rp/{name}/callback"
    body = {
        "name": name,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [redirect],
        "post_logout_redirect_uris": [redirect.replace("callback", "signed-out")],
        "backchannel_logout_uri": redirect.replace("callback", "backchannel"),
        "scopes": ["incidents:read"],
        **extra,
    }
    made = _ok(platform.gateway.post("/v1/identity/clients", json=body, headers=platform.admin_headers))
    assert made["password_grant_deprecated"] is False and "password" not in made["grant_types"]
    return RelyingParty(made["client_id"], made["client_secret"], redirect)


def account(school: SchoolKit, role: str) -> Person:
    person = school.person("staff", given_name="Sam", family_name=f"Jones{role[:4]}")
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    made = _ok(
        school.platform.gateway.post(
            "/v1/identity/users",
            json={"person_id": person["id"], "username": username, "password": PASSWORD, "roles": [role]},
            headers=school.platform.admin_headers,
        )
    )
    return Person(username, made.get("totp_secret"))


@pytest.fixture(scope="module")
def world(oidc_platform: RunningPlatform, rp_server: str) -> dict[str, Any]:
    school = oidc_platform.new_school(name="Oak Hill Primary")
    return {
        "school": school,
        "teacher": account(school, "teacher"),
        "dsl": account(school, "safeguarding_lead"),
        "rp": rp_server,
        "console": register(oidc_platform, rp_server, "console"),
        "mle": register(oidc_platform, rp_server, "mle"),
    }


def rp_client(platform: RunningPlatform, rp: RelyingParty) -> OAuth2Client:
    return OAuth2Client(
        client_id=rp.client_id,
        client_secret=rp.client_secret,
        scope="openid profile incidents:read",
        redirect_uri=rp.redirect_uri,
        code_challenge_method="S256",
        base_url=platform.runner.url("gateway"),
    )


def start(platform: RunningPlatform, rp: RelyingParty) -> tuple[OAuth2Client, str, str, str]:
    """The relying party's authorization URL (Authlib makes state, PKCE; we add the nonce)."""
    client = rp_client(platform, rp)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    base = platform.runner.url("gateway")
    url, _state = client.create_authorization_url(
        f"{base}/oauth/authorize", code_verifier=verifier, nonce=nonce
    )
    return client, url, verifier, nonce


def answer_callbacks(page: Any) -> list[str]:
    """The URLs the relying parties' server was asked for (the latest last)."""
    return _Callbacks.seen


def verify_id_token(platform: RunningPlatform, token: str, rp: RelyingParty, nonce: str) -> dict[str, Any]:
    jwks = jwt.PyJWKClient(platform.runner.url("gateway") + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["ES256"], audience=rp.client_id, issuer=platform.runner.issuer
    )
    assert claims["nonce"] == nonce
    return claims


def sign_in_in_browser(page: Any, url: str, person: Person, *, check_pages: bool = False) -> str:
    seen = answer_callbacks(page)
    page.goto(url)
    assert page.get_attribute("#username", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    if check_pages:
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
        assert_accessible(page)
    page.fill("#username", person.username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    if person.totp_secret is not None:
        page.wait_for_selector("#otp")
        assert page.get_attribute("#otp", "autocomplete") == "one-time-code"
        assert "Oak Hill Primary" in page.inner_text("header")
        if check_pages:
            assert_accessible(page)
        page.fill("#otp", totp.code_at(person.totp_secret, datetime.now(UTC)))
        page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/rp/" in page.url, (page.url, page.inner_text("body")[:600])
    assert seen
    return seen[-1]


def test_discovery_names_the_endpoints(oidc_platform: RunningPlatform) -> None:
    meta = _ok(oidc_platform.gateway.get("/.well-known/openid-configuration"))
    base = oidc_platform.runner.url("gateway")
    assert meta["issuer"] == oidc_platform.runner.issuer
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    for name in ("token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert meta[name].startswith(base)


def test_a_teacher_signs_in_and_a_second_client_needs_no_password_then_logout_ends_both(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    console, mle, teacher = world["console"], world["mle"], world["teacher"]
    client, url, verifier, nonce = start(oidc_platform, console)
    callback = sign_in_in_browser(page, url, teacher, check_pages=True)
    token = client.fetch_token(
        oidc_platform.runner.url("gateway") + "/oauth/token",
        authorization_response=callback,
        code_verifier=verifier,
    )
    claims = verify_id_token(oidc_platform, token["id_token"], console, nonce)
    assert claims["roles"] == ["teacher"] and claims["school_id"] == world["school"].id
    assert claims["amr"] == ["pwd"] and claims["given_name"] == "Sam"
    info = _ok(
        oidc_platform.gateway.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    )
    assert info["sub"] == claims["sub"] and info["family_name"].startswith("Jones")

    # The second relying party: the browser's session signs in without a password.
    mle_client, mle_url, mle_verifier, mle_nonce = start(oidc_platform, mle)
    seen = answer_callbacks(page)
    page.goto(mle_url)
    page.wait_for_url("**/rp/**")
    mle_token = mle_client.fetch_token(
        oidc_platform.runner.url("gateway") + "/oauth/token",
        authorization_response=seen[-1],
        code_verifier=mle_verifier,
    )
    mle_claims = verify_id_token(oidc_platform, mle_token["id_token"], mle, mle_nonce)
    assert mle_claims["sub"] == claims["sub"] and mle_claims["sid"] == claims["sid"]

    # RP-initiated logout from the console ends the session for both clients.
    signed_out = console.redirect_uri.replace("callback", "signed-out")
    page.goto(
        oidc_platform.runner.url("gateway")
        + "/oauth/logout?"
        + httpx.QueryParams(
            {"id_token_hint": token["id_token"], "post_logout_redirect_uri": signed_out, "state": "bye"}
        ).__str__()
    )
    page.wait_for_url(signed_out + "?state=bye")
    # Each client the session was used with was told, by a signed logout_token for that session.
    told = {path: token for path, token in _Callbacks.logouts}
    jwks = jwt.PyJWKClient(oidc_platform.runner.url("gateway") + "/.well-known/jwks.json")
    for rp, name in ((console, "console"), (mle, "mle")):
        logout_token = told[f"/rp/{name}/backchannel"]
        event = jwt.decode(
            logout_token,
            jwks.get_signing_key_from_jwt(logout_token).key,
            algorithms=["ES256"],
            audience=rp.client_id,
            issuer=oidc_platform.runner.issuer,
        )
        assert event["sid"] == claims["sid"] and event["sub"] == claims["sub"]
        assert "http://schemas.openid.net/event/backchannel-logout" in event["events"]
        assert "nonce" not in event
    for rp, tokens in ((console, token), (mle, mle_token)):
        refreshed = httpx.post(
            oidc_platform.runner.url("gateway") + "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(rp.client_id, rp.client_secret),
        )
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # And the next authorization asks for the password again.
    _c, again, _v, _n = start(oidc_platform, mle)
    page.goto(again)
    assert page.locator("#password").count() == 1


def test_a_two_factor_safeguarding_lead_signs_in_with_a_one_time_code(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    console, dsl = world["console"], world["dsl"]
    assert dsl.totp_secret
    client, url, verifier, nonce = start(oidc_platform, console)
    callback = sign_in_in_browser(page, url, dsl, check_pages=True)
    token = client.fetch_token(
        oidc_platform.runner.url("gateway") + "/oauth/token",
        authorization_response=callback,
        code_verifier=verifier,
    )
    claims = verify_id_token(oidc_platform, token["id_token"], console, nonce)
    assert "otp" in claims["amr"] and claims["roles"] == ["safeguarding_lead"]


def test_a_wrong_password_says_what_to_do(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    _client, url, _verifier, _nonce = start(oidc_platform, world["console"])
    page.goto(url)
    page.fill("#username", world["teacher"].username)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    wrong = page.inner_text(".error-summary")
    page.fill("#username", "nobody-" + uuid.uuid4().hex[:6])
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.inner_text(".error-summary") == wrong  # unknown user and wrong password read alike
    assert "Check them and try again" in wrong
    assert_accessible(page)


# --- refusals (no browser needed) ------------------------------------------------------------------


def _authorize(platform: RunningPlatform, rp: RelyingParty, **params: str | None) -> httpx.Response:
    verifier = secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid",
        "state": "s1",
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    for name, value in params.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return platform.gateway.get("/oauth/authorize", params=query)


def _error_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["error"][0]


def test_authorization_without_pkce_or_with_plain_pkce_is_refused(
    oidc_platform: RunningPlatform, world: dict[str, Any]
) -> None:
    rp = world["console"]
    assert (
        _error_of(_authorize(oidc_platform, rp, code_challenge=None, code_challenge_method=None))
        == "invalid_request"
    )
    assert _error_of(_authorize(oidc_platform, rp, code_challenge_method="plain")) == "invalid_request"
    assert _error_of(_authorize(oidc_platform, rp, code_challenge_method=None)) == "invalid_request"


def test_a_missing_nonce_is_refused(oidc_platform: RunningPlatform, world: dict[str, Any]) -> None:
    assert _error_of(_authorize(oidc_platform, world["console"], nonce=None)) == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    ["/elsewhere", "/rp/console/callback/x", "http://evil.example/cb", None],
)
def test_an_unregistered_or_altered_redirect_uri_gets_no_redirect(
    oidc_platform: RunningPlatform, world: dict[str, Any], redirect_uri: str | None
) -> None:
    if redirect_uri is not None and redirect_uri.startswith("/"):
        redirect_uri = world["rp"] + redirect_uri
    response = _authorize(oidc_platform, world["console"], redirect_uri=redirect_uri)
    assert response.status_code == 400 and "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "not valid" in response.text


def test_an_unknown_client_gets_no_redirect(oidc_platform: RunningPlatform, world: dict[str, Any]) -> None:
    response = _authorize(oidc_platform, world["console"], client_id="cl_nobody")
    assert response.status_code == 400 and "location" not in response.headers


def _code_in_browser(
    oidc_platform: RunningPlatform, world: dict[str, Any], page: Any, rp: RelyingParty
) -> tuple[OAuth2Client, str, str, str]:
    client, url, verifier, nonce = start(oidc_platform, rp)
    callback = sign_in_in_browser(page, url, world["teacher"])
    return client, callback, verifier, nonce


def _exchange(
    platform: RunningPlatform, rp: RelyingParty, code: str, verifier: str, redirect_uri: str | None = None
) -> httpx.Response:
    return httpx.post(
        platform.runner.url("gateway") + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or rp.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(rp.client_id, rp.client_secret),
    )


def test_codes_refused_wrong_verifier_twice_and_another_clients(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    console, mle = world["console"], world["mle"]
    _client, callback, verifier, _nonce = _code_in_browser(oidc_platform, world, page, console)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert parse_qs(urlsplit(callback).query)["iss"] == [oidc_platform.runner.issuer]
    # Another client cannot use it.
    other = _exchange(oidc_platform, mle, code, verifier, console.redirect_uri)
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    # A wrong verifier is refused.
    wrong = _exchange(oidc_platform, console, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    first = _exchange(oidc_platform, console, code, verifier)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    me = oidc_platform.gateway.get("/v1/identity/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200
    again = _exchange(oidc_platform, console, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # The first exchange's access token is refused through the gateway (RFC 6749 §4.1.2) ...
    me = oidc_platform.gateway.get("/v1/identity/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 401
    # ... and its refresh token is revoked.
    refreshed = httpx.post(
        oidc_platform.runner.url("gateway") + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=(console.client_id, console.client_secret),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_a_replayed_nonce_is_refused(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    _client, _callback, _verifier, nonce = _code_in_browser(oidc_platform, world, page, world["console"])
    assert _error_of(_authorize(oidc_platform, world["console"], nonce=nonce)) == "invalid_request"


def test_only_the_platform_admin_registers_redirect_clients(
    oidc_platform: RunningPlatform, world: dict[str, Any]
) -> None:
    school = world["school"]
    body = {
        "name": "sneaky",
        "school_id": school.id,
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://rp.example/cb"],
        "scopes": ["incidents:read"],
    }
    refused = oidc_platform.gateway.post(
        "/v1/identity/clients", json=body, headers=school.headers("head_teacher")
    )
    assert refused.status_code == 403
    password = oidc_platform.gateway.post(
        "/v1/identity/clients",
        json={**body, "grant_types": ["password"]},
        headers=oidc_platform.admin_headers,
    )
    assert password.status_code == 422


def test_a_pupil_signs_in_on_the_same_page_and_the_mle_learns_only_what_it_needs(
    oidc_platform: RunningPlatform,
    world: dict[str, Any],
    page: Any,
) -> None:
    school, mle = world["school"], world["mle"]
    pupil = school.pupil(year_group="4", given_name="Amelia", family_name="Zebedee")
    username = f"pupil-{uuid.uuid4().hex[:6]}"
    _ok(
        oidc_platform.gateway.post(
            "/v1/identity/users",
            json={"person_id": pupil["id"], "username": username, "password": PASSWORD, "roles": ["pupil"]},
            headers=oidc_platform.admin_headers,
        )
    )
    client = OAuth2Client(
        client_id=mle.client_id,
        client_secret=mle.client_secret,
        scope="openid",  # no profile: no names
        redirect_uri=mle.redirect_uri,
        code_challenge_method="S256",
        base_url=oidc_platform.runner.url("gateway"),
    )
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(
        oidc_platform.runner.url("gateway") + "/oauth/authorize", code_verifier=verifier, nonce=nonce
    )
    callback = sign_in_in_browser(page, url, Person(username, None))
    token = client.fetch_token(
        oidc_platform.runner.url("gateway") + "/oauth/token",
        authorization_response=callback,
        code_verifier=verifier,
    )
    claims = verify_id_token(oidc_platform, token["id_token"], mle, nonce)
    assert claims["roles"] == ["pupil"] and claims["school_id"] == school.id
    assert claims["year_group"] == "4"
    assert "given_name" not in claims and "family_name" not in claims and "name" not in claims
    assert "Zebedee" not in str(claims)
