"""The account pages: accepting a parent's invitation, asking for a password-reset code, and setting
a new password with one. Server-rendered, plain forms (no JavaScript), on the pages foundation
(`servicekit.pages`: autoescape, strict CSP, no asset from outside).

CSRF: these forms belong to nobody signed in, so the token is bound to a random form cookie
(host-only, HttpOnly, SameSite=Lax) and signed with a key derived from identity's secret
(`CsrfSigner`): a post from another site carries neither the cookie nor a token that matches it.

Every code entry and reset request passes the sign-in throttle (identity/security/throttle.py) on
keys of its own; a refused code says what to do; the reset request answers alike whether or not an
account matched.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from identity.invitations import service as invitation_service
from identity.pages import PAGES, message
from identity.paths import INVITATION_PAGE, RESET_CODE_PAGE, RESET_REQUEST_PAGE
from identity.recovery import service as recovery_service
from identity.schools import service as school_service
from identity.security.state import SecurityDep, SecurityState
from identity.security.throttle import Guard
from servicekit.app import ClockDep
from servicekit.context import client_ip_var
from servicekit.db import SessionDep
from servicekit.errors import ProblemError
from servicekit.mail import SmtpSettings
from servicekit.pages import CSRF_FIELD, BrowserCookie, CsrfSigner

router = APIRouter(tags=["account pages"], include_in_schema=False)

FORM_COOKIE = "idform"
TextField = Annotated[str, Form(max_length=1100)]


@dataclass
class FormState:
    """What a form page shows again after a refusal: the values typed (never a password) and errors."""

    values: dict[str, str] = field(default_factory=dict)
    field_errors: dict[str, str] = field(default_factory=dict)

    def error(self, name: str, text: str) -> None:
        self.field_errors.setdefault(name, text)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"field": name, "text": text} for name, text in self.field_errors.items()]


def _signer(sec: SecurityState) -> CsrfSigner:
    secret = sec.settings.totp_key.get_secret_value()
    return CsrfSigner(hashlib.sha256(b"identity account forms|" + secret.encode()).digest())


def _cookie(sec: SecurityState) -> BrowserCookie:
    return BrowserCookie.for_settings(FORM_COOKIE, sec.settings)


def _form_token(request: Request, sec: SecurityState) -> tuple[str, str]:
    """The form cookie's value (the one the browser has, else a new one) and a token for it."""
    form_id = _cookie(sec).read(request) or secrets.token_urlsafe(24)
    return form_id, _signer(sec).issue(form_id)


def _csrf_ok(request: Request, sec: SecurityState, token: str | None) -> bool:
    form_id = _cookie(sec).read(request)
    return form_id is not None and _signer(sec).verify(form_id, token)


def _form_page(
    request: Request,
    sec: SecurityState,
    template: str,
    *,
    status_code: int = 200,
    state: FormState | None = None,
    **context: Any,
) -> HTMLResponse:
    state = state or FormState()
    form_id, token = _form_token(request, sec)
    context.setdefault("school_name", None)
    values: dict[str, Any] = {**state.values, **context}
    response = PAGES.render(
        template,
        status_code=status_code,
        csrf_token=token,
        errors=state.errors,
        field_errors=state.field_errors,
        **values,
    )
    _cookie(sec).set(response, form_id, max_age=12 * 3600)
    return response


def _stale_form(school_name: str | None = None) -> HTMLResponse:
    return message(
        "This form has expired",
        "For your security, forms on this site work only in the browser that opened them, for a "
        "limited time. Go back, reload the page and try again.",
        status_code=400,
        school_name=school_name,
    )


async def _throttled(session: SessionDep, sec: SecurityState, guards: list[Guard]) -> int:
    """0 when the attempt may go ahead (it is counted), else the seconds to wait."""
    reservation = await sec.throttle.reserve(session, guards)
    return reservation.wait


def _too_many(wait: int, school_name: str | None = None) -> HTMLResponse:
    minutes = max(1, (wait + 59) // 60)
    response = message(
        "Too many attempts",
        f"For your security this is paused. Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
        "or ask the school office.",
        status_code=429,
        school_name=school_name,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _source() -> str:
    return client_ip_var.get() or "unknown"


def _check_new_password(state: FormState, password: str, again: str) -> None:
    if not password:
        state.error("password", "Enter a password.")
    elif password != again:
        state.error("password_again", "The two passwords are not the same: type them again.")


def _refusal_text(exc: ProblemError) -> str:
    return exc.detail


def smtp_of(request: Request) -> SmtpSettings:
    smtp: SmtpSettings = request.app.state.smtp
    return smtp


# --- accepting an invitation ---------------------------------------------------------------------


@router.get(INVITATION_PAGE, response_class=HTMLResponse)
async def invitation_page(
    request: Request,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
    code: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The invitation's page: the code (from the link, or typed), then the account form."""
    if not code:
        return _form_page(
            request,
            sec,
            "invitation_code.html",
            title="Make your parent account",
            action=INVITATION_PAGE,
            code_error=None,
        )
    wait = await _throttled(session, sec, _invitation_guards(sec))
    if wait:
        return _too_many(wait)
    try:
        invitation, _ = await invitation_service.open_invitation(session, code, now=clock.now())
    except invitation_service.InvitationRefused as exc:
        return _refused_invitation(request, sec, exc)
    school = await school_service.get(session, invitation.school_id)
    return _invitation_form(
        request, sec, code=code, school_name=school.name if school else None, expires=invitation.expires_at
    )


def _invitation_guards(sec: SecurityState) -> list[Guard]:
    return [Guard(f"invitation:{_source()}", sec.settings.reset_source_max_attempts)]


def _refused_invitation(
    request: Request, sec: SecurityState, exc: invitation_service.InvitationRefused
) -> HTMLResponse:
    if exc.reason == "unknown":
        return _form_page(
            request,
            sec,
            "invitation_code.html",
            status_code=400,
            state=FormState(field_errors={"code": _refusal_text(exc)}),
            title="Make your parent account",
            action=INVITATION_PAGE,
            code_error=_refusal_text(exc),
        )
    titles = {
        "used": "This invitation has been used",
        "expired": "This invitation has expired",
        "revoked": "This invitation was withdrawn",
    }
    return message(
        titles.get(exc.reason, "This invitation cannot be used"), _refusal_text(exc), status_code=410
    )


def _invitation_form(
    request: Request,
    sec: SecurityState,
    *,
    code: str,
    school_name: str | None,
    expires: Any,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    state = state or FormState()
    state.values.setdefault("username", "")
    return _form_page(
        request,
        sec,
        "invitation.html",
        status_code=status_code,
        state=state,
        title="Make your parent account",
        action=INVITATION_PAGE,
        code=code,
        school_name=school_name,
        expires=expires.strftime("%d %B %Y, %H:%M UTC"),
    )


@router.post(INVITATION_PAGE, response_class=HTMLResponse)
async def accept_invitation(
    request: Request,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
    code: TextField = "",
    username: TextField = "",
    password: TextField = "",
    password_again: TextField = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> HTMLResponse:
    """Make the parent account: username and password chosen here, linked to the carer."""
    if not _csrf_ok(request, sec, csrf_token):
        return _stale_form()
    wait = await _throttled(session, sec, _invitation_guards(sec))
    if wait:
        return _too_many(wait)
    now = clock.now()
    try:
        invitation, _ = await invitation_service.open_invitation(session, code, now=now)
    except invitation_service.InvitationRefused as exc:
        return _refused_invitation(request, sec, exc)
    school = await school_service.get(session, invitation.school_id)
    school_name, expires = (school.name if school else None), invitation.expires_at
    state = FormState(values={"username": username.strip()[:100]})
    if len(username.strip()) < 3:
        state.error("username", "Enter a username of at least 3 characters.")
    _check_new_password(state, password, password_again)
    if not state.field_errors:
        try:
            account = await invitation_service.accept(
                session, code=code, username=username, password=password, seeds=sec.seeds, now=now
            )
        except ProblemError as exc:
            await session.rollback()
            slug = exc.slug
            if isinstance(exc, invitation_service.InvitationRefused):
                return _refused_invitation(request, sec, exc)
            if slug in ("username-taken", "roles-refused") or "username" in _refusal_text(exc).lower():
                state.error("username", _refusal_text(exc))
            elif slug == "password-policy":
                state.error("password", _refusal_text(exc))
            else:
                state.error("username", _refusal_text(exc))
        else:
            return message(
                "Your parent account is ready",
                f"Your username is {account.username}. Sign in with it and your new password from "
                "your school's services.",
                "Keep your password private: the school will never ask you for it.",
                school_name=school_name,
            )
    return _invitation_form(
        request, sec, code=code, school_name=school_name, expires=expires, state=state, status_code=400
    )


# --- password reset --------------------------------------------------------------------------------


async def _school_name(session: SessionDep, school: str | None) -> str | None:
    """The school's name for the page's header when the link names one (`?school=<id>`)."""
    if not school:
        return None
    try:
        found = await school_service.get(session, uuid.UUID(school))
    except ValueError:
        return None
    return found.name if found else None


SchoolParam = Annotated[str | None, Query(max_length=40, description="The school whose name the page shows")]


@router.get(RESET_REQUEST_PAGE, response_class=HTMLResponse)
async def reset_request_page(
    request: Request, session: SessionDep, sec: SecurityDep, school: SchoolParam = None
) -> HTMLResponse:
    """Ask for a reset code by username or e-mail address."""
    return _reset_request_form(request, sec, await _school_name(session, school), school)


def _reset_request_form(
    request: Request,
    sec: SecurityState,
    school_name: str | None,
    school: str | None,
    *,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    state = state or FormState()
    state.values.setdefault("identifier", "")
    suffix = f"?school={school}" if school_name and school else ""
    return _form_page(
        request,
        sec,
        "reset_request.html",
        status_code=status_code,
        state=state,
        title="Reset your password",
        action=RESET_REQUEST_PAGE + suffix,
        code_page=RESET_CODE_PAGE + suffix,
        school_name=school_name,
    )


@router.post(RESET_REQUEST_PAGE, response_class=HTMLResponse)
async def request_reset(
    request: Request,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
    identifier: TextField = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    school: SchoolParam = None,
) -> HTMLResponse:
    """Send a code to the account's e-mail address, if there is such an account; the answer is the
    same either way."""
    school_name = await _school_name(session, school)
    if not _csrf_ok(request, sec, csrf_token):
        return _stale_form(school_name)
    typed = identifier.strip()[:254]
    if not typed:
        state = FormState(values={"identifier": ""})
        state.error("identifier", "Enter your username or e-mail address.")
        return _reset_request_form(request, sec, school_name, school, state=state, status_code=400)
    limit = sec.settings.reset_max_requests
    guards = [
        Guard(f"reset:{typed.lower()[:200]}", limit),
        Guard(f"reset-source:{_source()}", sec.settings.reset_source_max_attempts),
    ]
    wait = await _throttled(session, sec, guards)
    if wait:
        return _too_many(wait, school_name)
    if smtp_of(request).enabled:
        # The code and its e-mail (an outbox message) commit together before the answer; the
        # outbox worker sends it, so the answer takes as long whether or not a code was made, and
        # a code answered for is e-mailed even if the process stops now (recovery/mail.py).
        await recovery_service.request_reset(
            session, typed, now=clock.now(), valid_for=timedelta(minutes=sec.settings.reset_code_minutes)
        )
    suffix = f"?school={school}" if school_name and school else ""
    return PAGES.render(
        "message.html",
        title="Check your e-mail",
        paragraphs=[
            "If the username or address you gave belongs to an account with an e-mail address, we "
            "have sent a code to that address. It works once, for "
            f"{sec.settings.reset_code_minutes} minutes.",
            "No e-mail after a few minutes? Check your spam folder, or ask the school office for a code. "
            "Pupils in Reception to Year 2: ask your teacher.",
        ],
        school_name=school_name,
        link={"href": RESET_CODE_PAGE + suffix, "text": "Enter your code"},
    )


@router.get(RESET_CODE_PAGE, response_class=HTMLResponse)
async def reset_code_page(
    request: Request, session: SessionDep, sec: SecurityDep, school: SchoolParam = None
) -> HTMLResponse:
    """Set a new password with a reset code."""
    return _reset_code_form(request, sec, await _school_name(session, school), school)


def _reset_code_form(
    request: Request,
    sec: SecurityState,
    school_name: str | None,
    school: str | None,
    *,
    state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    suffix = f"?school={school}" if school_name and school else ""
    return _form_page(
        request,
        sec,
        "reset_code.html",
        status_code=status_code,
        state=state,
        title="Choose a new password",
        action=RESET_CODE_PAGE + suffix,
        school_name=school_name,
    )


@router.post(RESET_CODE_PAGE, response_class=HTMLResponse)
async def use_reset_code(
    request: Request,
    session: SessionDep,
    sec: SecurityDep,
    clock: ClockDep,
    code: TextField = "",
    password: TextField = "",
    password_again: TextField = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    school: SchoolParam = None,
) -> HTMLResponse:
    """The code works once: the new password is set and every session of the account ends."""
    school_name = await _school_name(session, school)
    if not _csrf_ok(request, sec, csrf_token):
        return _stale_form(school_name)
    state = FormState()
    if not code.strip():
        state.error("code", "Enter the code from your e-mail or from the school office.")
    _check_new_password(state, password, password_again)
    if state.field_errors:
        return _reset_code_form(request, sec, school_name, school, state=state, status_code=400)
    wait = await _throttled(
        session, sec, [Guard(f"reset-code:{_source()}", sec.settings.reset_source_max_attempts)]
    )
    if wait:
        return _too_many(wait, school_name)
    try:
        account = await recovery_service.use_code(session, code, password, now=clock.now())
    except ProblemError as exc:
        await session.rollback()
        if isinstance(exc, recovery_service.ResetCodeRefused):
            state.error("code", _refusal_text(exc))
        else:
            state.error("password", _refusal_text(exc))
        return _reset_code_form(request, sec, school_name, school, state=state, status_code=400)
    sec.publish_not_before(account)
    return message(
        "Your password is changed",
        "You have been signed out everywhere. Sign in again with your new password from your "
        "school's services.",
        school_name=school_name,
    )
