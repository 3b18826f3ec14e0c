"""A parent accepts an invitation and resets a password in a real browser (Debian's Chromium driven
by Playwright), through the gateway of a running platform whose identity e-mails reset codes to a
real SMTP server (aiosmtpd on 127.0.0.1); axe-core finds no serious or critical violation on the
invitation and reset pages, with and without errors shown.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from servicekit.testing import drop_test_database, free_port
from tests.browser import assert_accessible, browser, page  # noqa: F401 - fixtures
from tests.kit.test_mail import Inbox
from tests.platform import RunningPlatform, SchoolKit, start_platform

pytestmark = pytest.mark.processes

PASSWORD = "seven silver spoons"


@dataclass
class Site:
    platform: RunningPlatform
    url: str
    inbox: Inbox


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {
        "IDENTITY_SMTP_HOST": "127.0.0.1",
        "IDENTITY_SMTP_PORT": str(smtp.port),
        "IDENTITY_SMTP_FROM": "no-reply@school.example",
    }
    runner, tokens = start_platform(
        Path(tmp_path_factory.mktemp("account-pages")), services="identity", extra_env=env
    )
    gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        yield Site(RunningPlatform(runner, tokens, gateway), runner.url("gateway"), inbox)
    finally:
        gateway.close()
        runner.stop()
        smtp.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


def _invitation(site: Site, email: str) -> tuple[SchoolKit, dict]:
    school = site.platform.new_school(name="Browser Test Primary")
    pupil = school.pupil("4", given_name="Amy")
    carer = school.carer(pupil, given_name="Sarah")
    created = site.platform.gateway.post(
        "/v1/identity/invitations",
        json={"carer_id": carer["id"], "email": email},
        headers=school.headers("office"),
    )
    assert created.status_code == 201, created.text
    return school, created.json()


def test_a_parent_accepts_an_invitation_in_the_browser(page, site: Site) -> None:  # noqa: F811
    _school, invitation = _invitation(site, f"{uuid.uuid4().hex[:8]}@example.org")
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(site.url + httpx.URL(invitation["url"]).raw_path.decode())
    assert page.locator("h1").inner_text() == "Make your parent account"
    assert page.locator(".header__school").inner_text() == "Browser Test Primary"
    assert page.get_attribute("#username", "autocomplete") == "username"
    assert page.get_attribute("#password", "autocomplete") == "new-password"
    assert_accessible(page)
    username = f"parent.{uuid.uuid4().hex[:6]}"
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD + "x")
    page.click("button[type=submit]")
    # The error is named at the top and beside the field, and the page stays accessible.
    assert page.locator(".error-summary").is_visible()
    assert "not the same" in page.locator("#password_again-error").inner_text()
    assert_accessible(page)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Your parent account is ready"
    assert username in page.locator("main").inner_text()
    assert not failed
    # The parent signs in with it; used once, the link now says so.
    token = site.platform.gateway.post(
        "/oauth/token", data={"grant_type": "password", "username": username, "password": PASSWORD}
    )
    assert token.status_code == 200, token.text
    page.goto(site.url + httpx.URL(invitation["url"]).raw_path.decode())
    assert page.locator("h1").inner_text() == "This invitation has been used"
    assert_accessible(page)


def test_a_password_is_reset_with_an_emailed_code_in_the_browser(page, site: Site) -> None:  # noqa: F811
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    school, invitation = _invitation(site, email)
    username = f"parent.{uuid.uuid4().hex[:6]}"
    form = site.platform.gateway.get(httpx.URL(invitation["url"]).raw_path.decode())
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    made = site.platform.gateway.post(
        "/oauth/account/invitation",
        data={
            "code": invitation["code"],
            "username": username,
            "password": "first fine password",
            "password_again": "first fine password",
            "csrf_token": token,
        },
    )
    assert made.status_code == 200, made.text
    sent_before = len(site.inbox.messages)
    page.goto(f"{site.url}/oauth/account/reset?school={school.id}")
    assert page.locator(".header__school").inner_text() == "Browser Test Primary"
    assert page.get_attribute("#identifier", "autocomplete") == "username"
    assert_accessible(page)
    page.fill("#identifier", email)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your e-mail"
    assert_accessible(page)
    # The identity process's outbox worker sends it just after the answer (woken by its commit).
    deadline = time.monotonic() + 20
    while len(site.inbox.messages) == sent_before and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(site.inbox.messages) == sent_before + 1
    text = site.inbox.messages[-1].get_content()
    code = re.search(r"Your code: ([A-Z0-9-]+)", text).group(1)  # type: ignore[union-attr]
    page.click("text=Enter your code")
    assert page.get_attribute("#code", "autocomplete") == "one-time-code"
    assert page.get_attribute("#password", "autocomplete") == "new-password"
    assert_accessible(page)
    page.fill("#code", code)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Your password is changed"
    signed = site.platform.gateway.post(
        "/oauth/token", data={"grant_type": "password", "username": username, "password": PASSWORD}
    )
    assert signed.status_code == 200, signed.text
    # The same code again: refused beside the field, accessibly.
    page.goto(f"{site.url}/oauth/account/reset/code")
    page.fill("#code", code)
    page.fill("#password", "another fine password")
    page.fill("#password_again", "another fine password")
    page.click("button[type=submit]")
    assert "does not work" in page.locator("#code-error").inner_text()
    assert_accessible(page)
