"""What every page shares: the session, CSRF, the signed-in person's API, rendering, problems."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.alert_feed import refresh_count
from console.api import Api, ApiResponse
from console.auth import SignIn
from console.config import ConsoleSettings
from console.sessions import COOKIE, Session, SessionStore
from servicekit.pages import BrowserCookie, content_security_policy, csrf_matches, page_headers

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

# Pages offered by what the person's token may do (the services decide; this only hides links).
# The roles the services alert (servicekit.alerts): who is offered the Alerts page.
STAFF_ROLES = frozenset({"head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher"})

NAV = [
    ("incidents:report", "/concerns/new", "Report a concern"),
    ("incidents:write", "/concerns", "Concerns inbox"),
    ("phones:write", "/phones", "Phones"),
    ("phones:write", "/phones/end-of-day", "End of day"),
    ("consent:check", "/photos/group", "Group photo"),
    ("consent:write", "/consent-forms/new", "Paper consent form"),
    ("people:import", "/roll-import", "Upload the roll"),
    ("consent:own", "/my-children", "Your children"),
    ("incidents:stats", "/monitoring", "Monitoring report"),
    ("phones:search", "/phones/searches", "Phone searches"),
    ("consent:restrict", "/never-publish", "Never publish"),
    ("role:head_teacher", "/allegations", "Allegations"),
    ("devices:write", "/ict-assets", "ICT assets"),
    ("devices:write", "/loans", "Loans"),
    ("devices:write", "/staff-devices", "Staff devices"),
    ("audit:read", "/audit", "Audit logs"),
]

# servicekit.pages' policy (nothing inline, nothing from another host), plus what GOV.UK Frontend
# needs from the console's own origin: its fonts, and its JavaScript (progressive enhancement only).
CSP = content_security_policy() + "; font-src 'self'; script-src 'self'"
SECURITY_HEADERS = {**page_headers(), "Content-Security-Policy": CSP}


def session_cookie(settings: ConsoleSettings) -> BrowserCookie:
    """servicekit.pages' host-only cookie: `__Host-console_session` and Secure outside plain-http loopback."""
    return BrowserCookie(COOKIE, secure=settings.cookies_secure)


class NotSignedIn(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfFailed(Exception):
    pass


@dataclass
class Ctx:
    """One request of a signed-in person."""

    request: Request
    session: Session
    api: Api
    timings: list[float] = field(default_factory=list)

    @property
    def person(self) -> dict[str, Any]:
        return self.session.person

    def can(self, scope: str) -> bool:
        return scope in self.person.get("scopes", [])


def settings_of(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def store_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def sign_in_of(request: Request) -> SignIn:
    sign_in: SignIn = request.app.state.sign_in
    return sign_in


def http_of(request: Request) -> httpx.AsyncClient:
    http: httpx.AsyncClient = request.app.state.http
    return http


async def browser_session(request: Request) -> Session:
    """This browser's session (anonymous until sign-in), made when there is none. Read once per
    request; the app's middleware saves it when the page is done."""
    cached = loaded_session(request)
    if cached is not None:
        return cached
    store = store_of(request)
    session = await store.get(session_cookie(settings_of(request)).read(request))
    if session is None:
        session = await store.new()
        request.state.new_cookie = True
    request.state.session = session
    return session


def loaded_session(request: Request) -> Session | None:
    """The session this request has read already (None: it read none, or it ended)."""
    session: Session | None = getattr(request.state, "session", None)
    return session


async def signed_in(request: Request) -> Ctx:
    """A FastAPI dependency: the signed-in person's context, or the sign-in page."""
    session = await browser_session(request)
    if not session.signed_in:
        path = request.url.path
        raise NotSignedIn(path if request.method == "GET" else "/")
    timings: list[float] = request.state.api_timings
    api = Api(http_of(request), session, sign_in_of(request), timings, store_of(request))
    await refresh_count(api, session, request.app.state.clock.now())
    return Ctx(request, session, api, timings)


async def form_of(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token matched this session's (else CsrfFailed: 403)."""
    form = await request.form()
    session = await browser_session(request)
    if not csrf_matches(session.csrf, str(form.get("csrf_token", ""))):
        raise CsrfFailed
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in data:
            existing = data[key]
            data[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            data[key] = value
    return data


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page, for the session this request read (a request that read none renders signed out)."""
    session = loaded_session(request)
    person = session.person if session is not None and session.signed_in else None
    # An entry is a scope the token holds, or `role:<role>` for what is one role's alone.
    held = {*person.get("scopes", []), *(f"role:{r}" for r in person.get("roles", []))} if person else set()
    nav = [(href, label) for scope, href, label in NAV if scope in held]
    # Staff alerts go to school staff only: governors and parents are never alerted (docs/alerts.md).
    staff = person is not None and bool(STAFF_ROLES & set(person.get("roles", [])))
    alerts = session.alerts_unread if staff and session is not None else None
    flash = None
    if session is not None:
        flash, session.flash = session.flash, None
    csrf = session.csrf if session is not None else ""
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"person": person, "csrf_token": csrf, "nav": nav, "flash": flash, "alerts_unread": alerts} | context,
        status_code=status_code,
    )


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def sign_in_redirect(next_path: str) -> RedirectResponse:
    return redirect("/sign-in?next=" + quote(next_path, safe="/"))


def problem_page(request: Request, result: ApiResponse) -> Response:
    """The service's own refusal, shown as it is (403, 404, 409, ...)."""
    if result.status == 412:
        return render(request, "changed.html", status_code=412)
    return render(request, "problem.html", status_code=result.status, problem=result.body or {})


def errors_of(result: ApiResponse, fields: set[str]) -> dict[str, str]:
    """A refusal's messages by field; what names no field of the form goes under `form`."""
    errors = result.field_errors()
    out: dict[str, str] = {}
    for name, message in errors.items():
        out[name if name in fields else "form"] = message
    if not out:
        out["form"] = result.detail or "The platform did not accept this."
    return out


def start_timer(request: Request) -> None:
    request.state.started = time.perf_counter()
    request.state.api_timings = []
