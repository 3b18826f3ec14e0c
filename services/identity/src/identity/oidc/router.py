"""The OpenID Connect provider's browser endpoints: /oauth/authorize, the sign-in pages, /oauth/logout,
/oauth/userinfo, and Discovery at /.well-known/openid-configuration.

Pages are server-rendered (servicekit.pages: strict CSP, CSRF tokens, host-only cookies); they are
not API operations, so they are left out of the OpenAPI document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from identity.oidc import service as oidc
from identity.pages import PAGES, message
from identity.roles import SCOPES
from identity.security.state import SecurityDep, SecurityState
from servicekit.app import ClockDep
from servicekit.context import client_ip_var
from servicekit.db import SessionDep
from servicekit.pages import BrowserCookie, CsrfSigner, csrf_matches, new_csrf_token, origin_of

router = APIRouter(tags=["sign-in pages"], include_in_schema=False)
discovery_router = APIRouter(prefix="/.well-known", tags=["tokens"])

SESSION_COOKIE = "identity_session"
BINDING_COOKIE = "identity_signin"


def _cookies(sec: SecurityState) -> tuple[BrowserCookie, BrowserCookie]:
    return (
        BrowserCookie.for_settings(SESSION_COOKIE, sec.settings),
        BrowserCookie.for_settings(BINDING_COOKIE, sec.settings),
    )


def _signer(sec: SecurityState) -> CsrfSigner:
    return CsrfSigner("csrf:" + sec.settings.totp_key.get_secret_value(), max_age_seconds=3600)


def _query(request: Request) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params or len(value) > 2000:
            return None
        params[name] = value
    return params


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= 2000}


def _redirect(url: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{url}{'&' if '?' in url else '?'}{query}", status_code=303)


@router.get("/oauth/authorize", response_model=None)
async def authorize(request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep) -> Response:
    """The authorization endpoint: code flow with PKCE S256, state and nonce."""
    now = clock.now()
    params = _query(request)
    if params is None:
        return message(
            "This sign-in link is not valid", "A parameter is repeated or too long.", status_code=400
        )
    try:
        auth = await oidc.validate_request(session, params)
    except oidc.PageError as exc:
        return message(exc.title, exc.text, status_code=400)
    except oidc.RedirectError as exc:
        return _redirect(
            exc.redirect_uri,
            {
                "error": exc.error,
                "error_description": exc.description,
                "state": exc.state,
                "iss": sec.settings.issuer,
            },
        )
    session_cookie, binding_cookie = _cookies(sec)
    live = await oidc.live_session(session, session_cookie.read(request), now)
    if live is not None and "login" not in auth.prompt:
        browser, account = live
        if auth.client.school_id is None or auth.client.school_id == account.school_id:
            code = await oidc.issue_code(session, browser, auth.client, auth.as_json(), now)
            return _redirect(
                auth.redirect_uri, {"code": code, "state": auth.state, "iss": sec.settings.issuer}
            )
    if "none" in auth.prompt:
        return _redirect(
            auth.redirect_uri,
            {"error": "login_required", "state": auth.state, "iss": sec.settings.issuer},
        )
    binding = binding_cookie.read(request) or new_csrf_token()
    handle = await oidc.start_pending(session, auth, binding=binding, csrf=new_csrf_token(), now=now)
    response = RedirectResponse(f"/oauth/signin?{urlencode({'r': handle})}", status_code=303)
    binding_cookie.set(response, binding)
    return response


async def _page(
    session: SessionDep,
    pending: oidc.PendingSignIn,
    handle: str,
    *,
    errors: list[dict[str, str | None]] | None = None,
    username: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    client, account, school = await oidc.page_subjects(session, pending)
    errors = errors or []
    context: dict[str, Any] = {
        "school_name": school,
        "csrf_token": pending.csrf_token,
        "handle": handle,
        "errors": errors,
    }
    # The forms end in a redirect to the client: the browser checks it against form-action.
    form_action = [origin_of(pending.request["redirect_uri"])]
    if account is not None:
        return PAGES.render(
            "otp.html",
            status_code=status_code,
            form_action=form_action,
            title="Enter your one-time code",
            **context,
        )
    return PAGES.render(
        "signin.html",
        status_code=status_code,
        form_action=form_action,
        title=f"Sign in{' to ' + client.name if client else ''}",
        username=username,
        error_field=bool(errors and errors[0].get("field")),
        **context,
    )


def _expired() -> HTMLResponse:
    return message(
        "This sign-in has expired",
        "Sign-in pages work for 15 minutes, in the browser that opened them.",
        "Go back to the service you were using and choose Sign in again.",
        status_code=400,
    )


@router.get("/oauth/signin", response_model=None)
async def signin_page(request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep) -> Response:
    handle = request.query_params.get("r")
    if not handle:
        return message(
            "Sign in from the service you want to use",
            "This page is where your school's services send you to sign in.",
            "Open the service you want to use (for example your school's console or learning platform) "
            "and choose Sign in there.",
            status_code=400,
        )
    _, binding_cookie = _cookies(sec)
    pending = await oidc.pending_for(session, handle, binding_cookie.read(request), clock.now())
    if pending is None:
        return _expired()
    return await _page(session, pending, handle)


async def _complete(
    request: Request,
    session: SessionDep,
    sec: SecurityState,
    pending: oidc.PendingSignIn,
    account: oidc.Account,
    amr: list[str],
) -> Response:
    session_cookie, binding_cookie = _cookies(sec)
    code, cookie = await oidc.complete_sign_in(
        session, pending, account, amr, previous_cookie=session_cookie.read(request), now=sec.clock.now()
    )
    response = _redirect(
        pending.request["redirect_uri"],
        {"code": code, "state": pending.request["state"], "iss": sec.settings.issuer},
    )
    session_cookie.set(response, cookie)
    binding_cookie.clear(response)
    return response


@router.post("/oauth/signin", response_model=None)
async def signin_password(
    request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep
) -> Response:
    now = clock.now()
    form = await _form(request)
    handle = form.get("r", "")
    _, binding_cookie = _cookies(sec)
    pending = await oidc.pending_for(session, handle, binding_cookie.read(request), now)
    if pending is None or not csrf_matches(pending.csrf_token, form.get("csrf_token")):
        return _expired()
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or not password:
        return await _page(
            session,
            pending,
            handle,
            username=username,
            errors=[{"text": "Enter your username and your password.", "field": "username"}],
            status_code=400,
        )
    try:
        account, needs_code = await oidc.password_step(
            session, sec, pending, username=username, password=password, source=client_ip_var.get(), now=now
        )
    except oidc.SignInRefused as exc:
        return await _page(
            session,
            pending,
            handle,
            username=username,
            errors=[{"text": exc.text, "field": exc.field}],
            status_code=400,
        )
    if needs_code:
        return RedirectResponse(f"/oauth/signin?{urlencode({'r': handle})}", status_code=303)
    return await _complete(request, session, sec, pending, account, ["pwd"])


@router.post("/oauth/signin/otp", response_model=None)
async def signin_otp(request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep) -> Response:
    now = clock.now()
    form = await _form(request)
    handle = form.get("r", "")
    _, binding_cookie = _cookies(sec)
    pending = await oidc.pending_for(session, handle, binding_cookie.read(request), now)
    if (
        pending is None
        or pending.account_id is None
        or not csrf_matches(pending.csrf_token, form.get("csrf_token"))
    ):
        return _expired()
    try:
        account = await oidc.otp_step(
            session, sec, pending, otp=form.get("otp", ""), source=client_ip_var.get(), now=now
        )
    except oidc.SignInRefused as exc:
        return await _page(
            session, pending, handle, errors=[{"text": exc.text, "field": "otp"}], status_code=400
        )
    return await _complete(request, session, sec, pending, account, ["pwd", "otp", "mfa"])


# --- userinfo ----------------------------------------------------------------------------------------


@router.api_route("/oauth/userinfo", methods=["GET", "POST"], response_model=None)
async def read_userinfo(request: Request, session: SessionDep) -> JSONResponse:
    """OIDC UserInfo: who the access token's holder is (a token with the `openid` scope)."""
    principal = getattr(request.state, "principal", None)
    if principal is None or "openid" not in principal.scopes or principal.is_client:
        return JSONResponse(
            {
                "error": "invalid_token",
                "error_description": "A person's access token with scope openid is required.",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"', "Cache-Control": "no-store"},
        )
    info = await oidc.userinfo(session, principal.subject, principal.scopes)
    if info is None:
        return JSONResponse(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return JSONResponse(info, headers={"Cache-Control": "no-store"})


# --- logout ------------------------------------------------------------------------------------------


def _post_logout_target(client: oidc.OAuthClient | None, params: dict[str, str]) -> str | None:
    uri = params.get("post_logout_redirect_uri")
    if uri and client is not None and uri in client.post_logout_redirect_uris:
        return uri
    return None


async def _logout_client(
    session: SessionDep, sec: SecurityState, params: dict[str, str]
) -> oidc.OAuthClient | None:
    hint = params.get("id_token_hint")
    claims = oidc.read_id_token_hint(sec, hint) if hint else None
    client_id = (claims or {}).get("aud") or params.get("client_id")
    return await oidc.client_for(session, client_id if isinstance(client_id, str) else None)


async def _do_logout(
    request: Request, session: SessionDep, sec: SecurityState, params: dict[str, str]
) -> Response:
    now = sec.clock.now()
    session_cookie, _ = _cookies(sec)
    cookie = session_cookie.read(request)
    if cookie:
        await oidc.end_session_of_cookie(session, sec, cookie, now=now)
    client = await _logout_client(session, sec, params)
    target = _post_logout_target(client, params)
    if target is not None:
        response: Response = _redirect(target, {"state": params.get("state")})
    else:
        response = message(
            "You have signed out",
            "You are signed out of every school service you used in this browser.",
            "If you are on a shared computer, close the browser too.",
        )
    session_cookie.clear(response)
    return response


@router.get("/oauth/logout", response_model=None)
async def logout(request: Request, session: SessionDep, sec: SecurityDep, clock: ClockDep) -> Response:
    """RP-initiated logout. With an id_token_hint for this browser's session it signs out at once;
    otherwise the person confirms (a form with a CSRF token)."""
    params = _query(request) or {}
    session_cookie, _ = _cookies(sec)
    cookie = session_cookie.read(request)
    claims = oidc.read_id_token_hint(sec, params["id_token_hint"]) if params.get("id_token_hint") else None
    live = await oidc.live_session(session, cookie, clock.now()) if cookie else None
    if live is None or (claims is not None and claims.get("sid") == str(live[0].id)):
        return await _do_logout(request, session, sec, params)
    carry = [
        (k, v)
        for k, v in params.items()
        if k in ("post_logout_redirect_uri", "state", "client_id", "id_token_hint")
    ]
    client = await _logout_client(session, sec, params)
    target = _post_logout_target(client, params)
    return PAGES.render(
        "logout.html",
        form_action=[origin_of(target)] if target else [],
        title="Sign out",
        school_name=await oidc.school_name_for(session, client, live[1]),
        csrf_token=_signer(sec).issue(cookie or ""),
        carry=carry,
    )


@router.post("/oauth/logout", response_model=None)
async def logout_confirmed(request: Request, session: SessionDep, sec: SecurityDep) -> Response:
    form = await _form(request)
    session_cookie, _ = _cookies(sec)
    if not _signer(sec).verify(session_cookie.read(request) or "", form.get("csrf_token")):
        return message("Sign-out did not happen", "Go back and choose Sign out again.", status_code=400)
    return await _do_logout(request, session, sec, form)


# --- discovery ---------------------------------------------------------------------------------------


@discovery_router.get("/openid-configuration")
async def read_openid_configuration(sec: SecurityDep) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0: the provider's endpoints and what it supports."""
    base = sec.settings.public_base_url
    return {
        "issuer": sec.settings.issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "end_session_endpoint": f"{base}/oauth/logout",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted({"openid", "profile", *SCOPES}),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "sid",
            "school_id",
            "roles",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
        ],
        "prompt_values_supported": ["login", "none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "authorization_response_iss_parameter_supported": True,
    }
