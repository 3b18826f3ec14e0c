"""servicekit.pages: the rules every server-rendered page follows (headers, CSRF, cookies, escaping)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response

from servicekit.pages import (
    BrowserCookie,
    CsrfSigner,
    Pages,
    content_security_policy,
    csrf_matches,
    new_csrf_token,
    page_headers,
    secure_cookies,
)
from servicekit.settings import ServiceSettings


def test_the_policy_allows_no_script_and_no_other_host() -> None:
    csp = content_security_policy()
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # so default-src 'none' forbids every script, inline or not
    assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    headers = page_headers(["https://console.example"])
    assert "form-action 'self' https://console.example" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"


def test_templates_escape_what_they_are_given(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("<p>{{ name }}</p>")
    assert (
        Pages(tmp_path).html("t.html", name="<script>x</script>") == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    )


def test_csrf_tokens() -> None:
    token = new_csrf_token()
    assert csrf_matches(token, token)
    assert (
        not csrf_matches(token, token + "x")
        and not csrf_matches(token, None)
        and not csrf_matches(None, None)
    )
    signer = CsrfSigner("key", max_age_seconds=600)
    signed = signer.issue("session-1", now=1000)
    assert signer.verify("session-1", signed, now=1500)
    assert not signer.verify("session-2", signed, now=1500)  # bound to its session
    assert not signer.verify("session-1", signed, now=1601)  # too old
    assert not CsrfSigner("other").verify("session-1", signed, now=1500)
    assert not signer.verify("session-1", "garbage", now=1500)


def test_cookies_are_host_only_httponly_lax_and_secure_over_https() -> None:
    https = ServiceSettings(environment="production", public_base_url="https://school.example")
    loopback = ServiceSettings(environment="test", public_base_url="http://127.0.0.1:8000")
    assert secure_cookies(https) and not secure_cookies(loopback)
    response = Response()
    BrowserCookie.for_settings("sid", https).set(response, "v")
    header = response.headers["set-cookie"]
    assert header.startswith("__Host-sid=v;")
    assert "Secure" in header and "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    assert "Domain" not in header
    response = Response()
    BrowserCookie.for_settings("sid", loopback).set(response, "v")
    assert (
        response.headers["set-cookie"].startswith("sid=v;") and "Secure" not in response.headers["set-cookie"]
    )
