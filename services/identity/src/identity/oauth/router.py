"""/oauth/token and /oauth/revoke: form-encoded, RFC 6749 / RFC 7009.

These two endpoints answer errors with the standard's JSON body (`error`, `error_description`),
not problem+json: OAuth client libraries expect it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from identity.oauth import service as oauth_service
from identity.oauth.service import OAuthError, invalid_client
from identity.oidc import service as oidc_service
from identity.security.state import SecurityDep, SecurityState
from servicekit.app import ClockDep
from servicekit.context import client_ip_var
from servicekit.db import SessionDep

router = APIRouter(prefix="/oauth", tags=["tokens"])

MAX_PARAM = 4096
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        name: {"type": "string"}
                        for name in (
                            "grant_type",
                            "client_id",
                            "client_secret",
                            "scope",
                            "username",
                            "password",
                            "otp",
                            "refresh_token",
                            "code",
                            "redirect_uri",
                            "code_verifier",
                        )
                    },
                    # Unknown parameters are ignored (RFC 6749 §3.2); any parameter sent twice is not.
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}
REVOKE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {"token": {"type": "string"}, "token_type_hint": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                }
            }
        },
    }
}


def _error(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers={**NO_STORE, **exc.headers},
    )


async def _form(request: Request) -> dict[str, str]:
    """The form parameters; each at most once (RFC 6749 §3.2), none too long."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise OAuthError(
            "invalid_request", "Send the parameters form-encoded (application/x-www-form-urlencoded)."
        )
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception as exc:
        raise OAuthError("invalid_request", "The form could not be read.") from exc
    params: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or len(value) > MAX_PARAM:
            raise OAuthError("invalid_request", f"The parameter {name!r} is not acceptable.")
        if name in params:
            raise OAuthError("invalid_request", f"The parameter {name!r} is repeated.")
        params[name] = value
    return params


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        # RFC 6749 §5.2: a client that tried the Authorization header and failed gets 401.
        raise invalid_client()
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client() from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client()
    # RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _credentials(request: Request, params: dict[str, str]) -> tuple[str, str] | None:
    """The client's id and secret, None when no client tried to authenticate."""
    basic = _basic_credentials(request)
    posted = params.get("client_id"), params.get("client_secret")
    if basic is not None and posted[1] is not None:
        raise OAuthError("invalid_request", "Use one client authentication method, not two.")
    if basic is None and posted[1] is None:
        return None
    client_id, secret = basic if basic is not None else (posted[0] or "", posted[1] or "")
    if basic is not None and posted[0] is not None and posted[0] != client_id:
        raise invalid_client()
    return client_id, secret


async def _authenticate(
    request: Request, params: dict[str, str], session: SessionDep, sec: SecurityState, now: datetime
) -> oidc_service.OAuthClient | None:
    """A client that tries to authenticate must succeed (invalid_client); none need try. A public
    client (no secret) names itself with `client_id`."""
    credentials = _credentials(request, params)
    if credentials is not None:
        return await oauth_service.authenticate_client(
            session, sec, *credentials, source=client_ip_var.get(), now=now
        )
    if params.get("client_id"):
        client = await oidc_service.client_for(session, params["client_id"])
        if client is not None and not client.is_confidential:
            return client
    return None


# RFC 6749 §5.2: token and revocation errors are plain JSON `{error, error_description}`.
OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                }
            }
        },
    }
    for status, description in (
        (400, "OAuth error (RFC 6749 §5.2)"),
        (401, "Client authentication failed"),
        (429, "Too many attempts"),
    )
}


@router.post("/token", openapi_extra=FORM_BODY, response_model=None, responses=OAUTH_ERRORS)
async def issue_token(
    request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep
) -> JSONResponse:
    """Issue an access token: client credentials, password (+ otp) or refresh token."""
    now = clock.now()
    try:
        params = await _form(request)
        grant = params.get("grant_type")
        scope = params.get("scope")
        if grant == "client_credentials":
            credentials = _credentials(request, params)
            if credentials is None:
                raise invalid_client()
            client = await oauth_service.authenticate_client(
                session, sec, *credentials, source=client_ip_var.get(), now=now
            )
            tokens = await oauth_service.client_credentials(session, sec, client, scope=scope, now=now)
        elif grant == "password":
            oauth_service.check_grant(await _authenticate(request, params, session, sec, now), "password")
            username, password = params.get("username"), params.get("password")
            if not username or password is None:
                raise OAuthError("invalid_request", "username and password are required.")
            tokens = await oauth_service.password_grant(
                session,
                sec,
                username=username,
                password=password,
                otp=params.get("otp"),
                scope=scope,
                source=client_ip_var.get(),
                now=now,
            )
        elif grant == "refresh_token":
            holder = await _authenticate(request, params, session, sec, now)
            refresh = params.get("refresh_token")
            if not refresh:
                raise OAuthError("invalid_request", "refresh_token is required.")
            tokens = await oauth_service.refresh_grant(
                session, sec, refresh_token=refresh, scope=scope, now=now, client=holder
            )
        elif grant == "authorization_code":
            relying = await _authenticate(request, params, session, sec, now)
            if relying is None:
                raise invalid_client()
            oauth_service.check_grant(relying, "authorization_code")
            code = params.get("code")
            if not code:
                raise OAuthError("invalid_request", "code is required.")
            tokens, id_token = await oidc_service.exchange_code(
                session,
                sec,
                relying,
                code=code,
                redirect_uri=params.get("redirect_uri"),
                code_verifier=params.get("code_verifier"),
                now=now,
            )
            return JSONResponse({**tokens.body(), "id_token": id_token}, headers=NO_STORE)
        elif grant is None:
            raise OAuthError("invalid_request", "grant_type is required.")
        else:
            raise OAuthError(
                "unsupported_grant_type",
                "Supported: authorization_code, client_credentials, refresh_token, password (deprecated).",
            )
    except OAuthError as exc:
        # Returned, not raised: the audit entries of a refused sign-in still commit.
        return _error(exc)
    return JSONResponse(tokens.body(), headers=NO_STORE)


@router.post("/revoke", openapi_extra=REVOKE_BODY, response_model=None, responses=OAUTH_ERRORS)
async def revoke_token(
    request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep
) -> JSONResponse:
    """Revoke a refresh token and its whole chain (RFC 7009)."""
    try:
        params = await _form(request)
        await _authenticate(request, params, session, sec, clock.now())
        token = params.get("token")
        if not token:
            raise OAuthError("invalid_request", "token is required.")
        await oauth_service.revoke(session, token=token, now=clock.now())
    except OAuthError as exc:
        return _error(exc)
    return JSONResponse({}, headers=NO_STORE)
