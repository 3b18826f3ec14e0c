"""Server-rendered pages (identity's sign-in, the console): templates, headers, CSRF and cookies.

One set of rules for every page the platform serves to a browser (SECURITY.md, "Browser sessions"):

- `Pages(folder)`: Jinja2 templates with autoescape on for every template; `render` answers HTML
  with `page_headers`.
- `page_headers`: a strict Content-Security-Policy (nothing inline, nothing from another host; the
  page's own stylesheet only, and its own script files where a page needs them), no framing, no
  referrer, no caching, no sniffing. A page whose form ends in a redirect to another site (a
  sign-in that returns to its client) names that origin in `form_action`: browsers apply
  `form-action` to the redirects that follow a form's submission.
- CSRF: a random token kept server-side beside the state the form changes (`new_csrf_token`,
  `csrf_matches`), or, where nothing is kept, one signed for a session (`CsrfSigner`).
- `BrowserCookie`: `HttpOnly`, `SameSite=Lax`, host-only, `Path=/`; `Secure` with the `__Host-`
  prefix whenever the platform is reached over https or runs in production. Plain-http loopback
  in development and tests (SECURITY.md: `Secure` outside development) keeps the same attributes
  without `Secure`, so without the prefix (browsers refuse a `__Host-` cookie that is not Secure).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from servicekit.settings import ServiceSettings

CSRF_FIELD = "csrf_token"


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an absolute URL (for `form-action`)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(form_action: Iterable[str] = (), *, scripts: bool = False) -> str:
    """No script at all, styles and images from the page's own origin only, forms to it (and the
    origins named), never framed.

    `scripts`: a page that runs scripts (the gateway's Swagger UI, third-party code): files from its
    own origin only, never inline, fetching from its own origin only; images also from `data:`
    URIs (Swagger UI's stylesheet draws its icons with them: nothing is fetched)."""
    targets = " ".join(["'self'", *sorted(set(form_action))])
    allowed = (
        ["script-src 'self'", "connect-src 'self'", "img-src 'self' data:"] if scripts else ["img-src 'self'"]
    )
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            *allowed,
            f"form-action {targets}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def page_headers(form_action: Iterable[str] = (), *, scripts: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(form_action, scripts=scripts),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


class Pages:
    """The templates of one folder, autoescaped, with `StrictUndefined` (a missing value is a bug)."""

    def __init__(self, folder: Path, *, globals_: Mapping[str, Any] | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(globals_ or {})

    def html(self, template: str, /, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def render(
        self,
        template: str,
        /,
        *,
        status_code: int = 200,
        form_action: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        return HTMLResponse(
            self.html(template, **context),
            status_code=status_code,
            headers={**page_headers(form_action), **(headers or {})},
        )


def asset_response(path: Path, media_type: str) -> Response:
    """A page's own asset (its stylesheet), cacheable for an hour."""
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


# --- CSRF --------------------------------------------------------------------------------------


def new_csrf_token() -> str:
    """A token to keep server-side beside what the form changes, and to put in the form."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """The form's token is the one kept (constant time); a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class CsrfSigner:
    """Stateless CSRF tokens bound to a session id: `<issued>.<HMAC(key, session|issued)>`."""

    def __init__(self, key: str | bytes, *, max_age_seconds: int = 12 * 3600) -> None:
        self._key = key.encode() if isinstance(key, str) else key
        self.max_age = max_age_seconds

    def _mac(self, session_id: str, issued: int) -> str:
        return hmac.new(self._key, f"{session_id}|{issued}".encode(), hashlib.sha256).hexdigest()

    def issue(self, session_id: str, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        return f"{issued}.{self._mac(session_id, issued)}"

    def verify(self, session_id: str, token: str | None, *, now: float | None = None) -> bool:
        if not token or "." not in token:
            return False
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit():
            return False
        issued = int(issued_text)
        current = time.time() if now is None else now
        if current - issued > self.max_age or issued - current > 60:
            return False
        return hmac.compare_digest(mac, self._mac(session_id, issued))


# --- cookies -----------------------------------------------------------------------------------


def secure_cookies(settings: ServiceSettings) -> bool:
    """Secure cookies unless a development or test platform is reached over plain http."""
    return settings.is_production or settings.public_base_url.startswith("https://")


class BrowserCookie:
    """A host-only session cookie: `__Host-<name>` and Secure over https, `<name>` on http loopback."""

    def __init__(self, name: str, *, secure: bool) -> None:
        self.secure = secure
        self.name = f"__Host-{name}" if secure else name

    @classmethod
    def for_settings(cls, name: str, settings: ServiceSettings) -> BrowserCookie:
        return cls(name, secure=secure_cookies(settings))

    def read(self, request: Request) -> str | None:
        value = request.cookies.get(self.name)
        return value if value and len(value) <= 200 else None

    def set(self, response: Response, value: str, *, max_age: int | None = None) -> None:
        response.set_cookie(
            self.name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path="/", secure=self.secure, httponly=True, samesite="lax")
