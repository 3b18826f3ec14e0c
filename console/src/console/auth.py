"""Signing people in: the one module that knows how the console gets a person's tokens.

The product path is OpenID Connect's authorization code flow with PKCE (S256), `state` and `nonce`,
the console a confidential client of identity (CONTRACT.md "People signing in"): the browser is
sent to identity's sign-in page, comes back with a code, and the console exchanges it server-side.
The tokens stay in the server-side session (console.sessions); the browser only ever holds the
session cookie.

`PasswordSignIn` (CONSOLE_SIGN_IN=password) is a form of the console's own that uses identity's
password grant, for development against an identity without OIDC; ConsoleSettings refuses it in
production, and the tests sign in through OIDC.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from jose import jwt

from console.config import ConsoleSettings
from console.sessions import Session
from servicekit.clock import Clock


class SignInFailed(Exception):
    """Identity refused: the message is safe to show (identity's own error_description)."""

    def __init__(self, message: str, *, needs_otp: bool = False) -> None:
        super().__init__(message)
        self.needs_otp = needs_otp


def unverified_claims(token: str) -> dict[str, Any]:
    """The access token's claims. Read for display only: the console got the token from identity
    itself, and every service verifies it on every call, so nothing is decided on them here."""
    claims: dict[str, Any] = jwt.get_unverified_claims(token)
    return claims


class SignIn:
    """What both ways share: keeping the tokens fresh, signing out."""

    def __init__(self, settings: ConsoleSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def client_auth(self) -> dict[str, str]:
        return {}

    async def establish(self, http: httpx.AsyncClient, session: Session, tokens: dict[str, Any]) -> None:
        self._store(session, tokens)
        claims = unverified_claims(tokens["access_token"])
        scopes = str(claims.get("scope", "")).split()
        person: dict[str, Any] = {
            "account_id": claims.get("sub"),
            "school_id": claims.get("school_id"),
            "roles": list(claims.get("roles") or []),
            "scopes": scopes,
            "person_id": claims.get("person_id"),
            "username": claims.get("preferred_username") or "",
            "name": "",
            "school_name": "",
        }
        headers = {"Authorization": f"Bearer {session.access_token}"}
        me = await http.get("/v1/identity/users/me", headers=headers)
        if me.status_code == 200:
            body = me.json()
            person["username"] = body.get("username") or person["username"]
            person["person_id"] = body.get("person_id") or person["person_id"]
        if person["person_id"] and "people:read" in scopes:
            found = await http.get(f"/v1/identity/people/{person['person_id']}", headers=headers)
            if found.status_code == 200:
                p = found.json()
                person["name"] = f"{p['given_name']} {p['family_name']}"
        if person["school_id"] and "schools:read" in scopes:
            school = await http.get(f"/v1/identity/schools/{person['school_id']}", headers=headers)
            if school.status_code == 200:
                person["school_name"] = school.json().get("name", "")
        session.person = person

    def _store(self, session: Session, tokens: dict[str, Any]) -> None:
        session.access_token = tokens["access_token"]
        session.refresh_token = tokens.get("refresh_token") or session.refresh_token
        session.expires_at = self.clock.now() + timedelta(seconds=int(tokens.get("expires_in", 300)))

    def stale(self, session: Session) -> bool:
        """The access token expires within 30 seconds (or its expiry is unknown): refresh it first."""
        return session.expires_at is None or self.clock.now() >= session.expires_at - timedelta(seconds=30)

    async def refresh(self, http: httpx.AsyncClient, session: Session) -> None:
        from console.api import SignedOut

        if not session.refresh_token:
            raise SignedOut
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": session.refresh_token,
                **self.client_auth(),
            },
        )
        if response.status_code != 200:
            session.access_token = None
            raise SignedOut
        self._store(session, response.json())

    async def sign_out(self, http: httpx.AsyncClient, session: Session) -> None:
        if session.refresh_token:
            await http.post(
                "/oauth/revoke",
                data={
                    "token": session.refresh_token,
                    "token_type_hint": "refresh_token",
                    **self.client_auth(),
                },
            )


class PasswordSignIn(SignIn):
    """Tests only (see the module's docstring): identity's password grant from the console's form."""

    async def with_password(
        self, http: httpx.AsyncClient, session: Session, username: str, password: str, otp: str
    ) -> None:
        form = {"grant_type": "password", "username": username, "password": password}
        if otp:
            form["otp"] = otp
        response = await http.post("/oauth/token", data=form)
        if response.status_code != 200:
            body = response.json() if response.content else {}
            message = str(body.get("error_description") or "The username or password is not right.")
            raise SignInFailed(message, needs_otp="one-time code" in message)
        await self.establish(http, session, response.json())


# What the console asks for: OIDC's own scopes and every API scope a person's role may hold.
# Identity grants the part the person's roles have (and the console's client is registered with).
CONSOLE_SCOPES = (
    "openid profile schools:read people:read people:write people:import users:read audit:read "
    "agreements:read agreements:sign consent:read consent:write consent:own consent:check "
    "consent:restrict phones:read phones:write phones:search devices:read devices:write devices:own "
    "incidents:report incidents:read incidents:write incidents:stats"
)


class OidcSignIn(SignIn):
    """Authorization code + PKCE (S256), state and nonce; the console a confidential client."""

    def client(self) -> tuple[str, str]:
        """The console's client id and secret: from the settings, else from the client file."""
        if self.settings.oidc_client_id:
            return self.settings.oidc_client_id, self.settings.oidc_client_secret.get_secret_value()
        path = Path(self.settings.oidc_client_file) if self.settings.oidc_client_file else None
        if path is None or not path.exists():
            raise SignInFailed(
                "The console has no OAuth client at identity yet; ask the school's IT support."
            )
        data = json.loads(path.read_text())
        return str(data["client_id"]), str(data["client_secret"])

    def client_auth(self) -> dict[str, str]:
        client_id, secret = self.client()
        return {"client_id": client_id, "client_secret": secret}

    @property
    def redirect_uri(self) -> str:
        return self.settings.base_url + "/auth/callback"

    async def discovery(self, http: httpx.AsyncClient) -> dict[str, Any]:
        response = await http.get("/.well-known/openid-configuration")
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc

    async def start(self, http: httpx.AsyncClient, session: Session, next_path: str) -> str:
        """The address of identity's sign-in page for this session (state, nonce, PKCE kept here)."""
        doc = await self.discovery(http)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        session.pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": verifier,
            "next": next_path,
        }
        query = {
            "response_type": "code",
            "client_id": self.client()[0],
            "redirect_uri": self.redirect_uri,
            "scope": CONSOLE_SCOPES,
            "state": session.pending["state"],
            "nonce": session.pending["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return str(doc["authorization_endpoint"]) + "?" + urllib.parse.urlencode(query)

    async def finish(self, http: httpx.AsyncClient, session: Session, code: str, state: str) -> str:
        """The code exchanged server-side; returns where the person was going."""
        pending = session.pending
        session.pending = {}
        if not pending or not secrets.compare_digest(pending.get("state", ""), state):
            raise SignInFailed("The sign-in did not match this browser; start again.")
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending["verifier"],
                **self.client_auth(),
            },
        )
        if response.status_code != 200:
            raise SignInFailed("Identity did not accept the sign-in; start again.")
        tokens = response.json()
        claims = await self._check_id_token(http, tokens.get("id_token"), pending["nonce"])
        await self.establish(http, session, tokens)
        session.person["name"] = session.person["name"] or str(claims.get("name") or "")
        session.person["username"] = session.person["username"] or str(claims.get("preferred_username") or "")
        return pending.get("next") or "/"

    async def _check_id_token(
        self, http: httpx.AsyncClient, id_token: str | None, nonce: str
    ) -> dict[str, Any]:
        if not id_token:
            raise SignInFailed("Identity sent no ID token; start again.")
        jwks = (await http.get("/.well-known/jwks.json")).json()
        try:
            claims = jwt.decode(
                id_token,
                jwks,
                algorithms=["ES256"],
                audience=self.client()[0],
                issuer=self.settings.issuer,
                options={
                    "require_aud": True,
                    "require_iat": True,
                    "require_exp": True,
                    "verify_at_hash": False,
                },
            )
        except Exception as exc:
            raise SignInFailed("The ID token did not verify; start again.") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("The sign-in did not match this browser; start again.")
        return dict(claims)


def make_sign_in(settings: ConsoleSettings, clock: Clock) -> SignIn:
    if settings.sign_in == "password":
        return PasswordSignIn(settings, clock)
    return OidcSignIn(settings, clock)
