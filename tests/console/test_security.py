"""The console's browser-session rules (SECURITY.md "Browser sessions") and role-based pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from console.config import ConsoleSettings
from console.main import create_app
from servicekit.clock import FrozenClock
from tests.console.conftest import Demo, sign_in_through_identity

pytestmark = pytest.mark.processes


def test_every_page_has_a_strict_csp_and_the_cookie_is_per_security_md(visit: Any, demo: Demo) -> None:
    v = visit()
    v.page.goto("/")  # the console's cookie, then identity's sign-in page
    before = {c["name"]: c for c in v.context.cookies()}["console_session"]
    v.sign_in("teacher", fresh=True)
    response = v.page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    after = {c["name"]: c for c in v.context.cookies()}["console_session"]
    assert after["value"] != before["value"], "the session id rotates at sign-in"
    assert after["httpOnly"] and after["sameSite"] == "Lax"
    assert after["domain"] == "127.0.0.1" and not after["domain"].startswith("."), "host-only"
    assert not after["secure"]  # plain http on loopback in test; Secure outside development and test
    page = v.page.goto("/concerns/new")
    assert page.headers["content-security-policy"] == csp
    assert page.headers["cache-control"] == "no-store"


def test_the_console_passes_the_gateway_without_a_token_but_the_api_does_not(demo: Demo) -> None:
    sign_in = demo.api.get("/sign-in")
    assert sign_in.status_code == 303 and "/oauth/authorize?" in sign_in.headers["location"]
    refused = demo.api.get("/v1/incidents")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")


def test_an_api_client_at_an_address_no_service_takes_gets_a_problem(demo: Demo) -> None:
    """The console answers what no service takes; an API client still gets problem+json, not a page."""
    response = demo.api.get("/internal/replica/sync", headers=demo.headers("teacher"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_the_pages_load_nothing_from_outside_the_platform(visit: Any, demo: Demo) -> None:
    v = visit()
    seen: list[str] = []
    v.page.on("request", lambda r: seen.append(r.url))
    v.sign_in("teacher")
    v.goto("/concerns/new")
    v.goto("/phones")
    assert seen and all(url.startswith(demo.base_url) for url in seen), seen
    assert any("/static/govuk/govuk-frontend.min.css" in url for url in seen)


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("teacher")
    before = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    response = v.page.request.post(
        "/concerns/new",
        form={
            "category": "malware",
            "severity": "low",
            "location": "on_site",
            "summary": "forged",
            "occurred_on": "2026-09-01",
            "action": "report",
        },
        max_redirects=0,
    )
    assert response.status == 403
    after = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    assert len(after.json()["items"]) == len(before.json()["items"])


def test_a_teacher_is_not_offered_parent_pages_and_reaching_one_is_the_services_refusal(
    visit: Any, demo: Demo
) -> None:
    v = visit(width=360)
    v.sign_in("teacher")
    links = v.page.locator("#navigation a").all_inner_texts()
    assert "Report a concern" in links and "Your children" not in links and "Concerns inbox" not in links
    v.screenshot("teacher-start-360px")
    response = v.goto("/my-children")
    assert response.status == 403
    assert demo.api.get("/v1/media-consent/children", headers=demo.headers("teacher")).status_code == 403


def test_the_session_ends_after_ten_minutes_idle_by_the_injected_clock(demo: Demo) -> None:
    clock = FrozenClock(datetime.now(UTC))
    settings = ConsoleSettings(
        environment="test",
        gateway_url=demo.base_url,
        public_base_url=demo.base_url,
        issuer=demo.base_url,
        oidc_client_file=demo.client_file,
    )
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as console:
        sign_in_through_identity(console, demo.accounts["teacher"])
        assert console.get("/", follow_redirects=False).status_code == 200
        clock.advance(timedelta(minutes=9, seconds=59))
        assert console.get("/", follow_redirects=False).status_code == 200
        clock.advance(timedelta(minutes=9, seconds=59))
        assert console.get("/", follow_redirects=False).status_code == 200, (
            "each request restarts the idle clock"
        )
        clock.advance(timedelta(minutes=10, seconds=1))
        ended = console.get("/", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/sign-in")


def test_password_sign_in_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="tests only"):
        ConsoleSettings(environment="production", sign_in="password")
