"""The console in a real browser: the platform started like the run command (processes on
loopback, the demo school of scripts/demo.py), Debian's Chromium headless driven by Playwright.

Every page a test opens is checked with axe-core (no serious or critical violation), and every
request the browser makes must go to the platform's own address: anything else fails the test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest

from servicekit.testing import TokenFactory, drop_test_database
from tests.browser import assert_accessible, browser, require_chromium  # noqa: F401 - the browser fixture
from tests.platform import start_platform
from tests.world import caller_headers

pytestmark = pytest.mark.processes

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "console"


@dataclass
class Account:
    username: str
    password: str
    totp_secret: str | None
    # The last 30-second step whose code was used: a code works once, and the demo's seed signed
    # every account in already. Identity allows one step of drift, so the next step's code is good.
    used_step: int = 0

    def otp(self) -> str:
        if not self.totp_secret:
            return ""
        step = max(int(time.time()) // 30, self.used_step + 1)
        self.used_step = step
        return str(pyotp.TOTP(self.totp_secret).at(step * 30))


@dataclass
class Demo:
    """The demo school as the run command leaves it: accounts, ids, and API headers per role."""

    base_url: str
    accounts: dict[str, Account]
    ids: dict[str, Any]
    api: httpx.Client
    tokens: TokenFactory
    client_file: str
    # A signed-in console session per role, reused by later tests: a one-time code works once, so
    # staff with two-factor sign-in sign in through the form once a run.
    cookies: dict[str, list[Any]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        """A token for the demo person in `role`, signed with identity's key (to assert what the API holds)."""
        person = self.ids["carers"][4]["id"] if role == "parent" else self.ids["staff"].get(role)
        return caller_headers(self.tokens, role, school_id=self.ids["school_id"], person_id=person)

    def pupil(self, given_name: str) -> dict[str, Any]:
        return next(p for p in self.ids["pupils"] if p["given_name"] == given_name)


def read_credentials(path: Path) -> dict[str, Account]:
    accounts = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([a-z_]+): (\S+) / (\S+)(?: \(TOTP secret ([A-Z2-7=]+)\))?$", line)
        if match:
            accounts[match[1]] = Account(match[2], match[3], match[4])
    return accounts


def sign_in_through_identity(console: httpx.Client, account: Account, gateway: str | None = None) -> None:
    """A person's OIDC sign-in without a browser: the console's /sign-in, identity's own pages (at
    the gateway: `gateway` when given is checked as the authorize URL's origin), then the console's
    callback, taken to `console` itself (a TestClient, or one console of several)."""
    authorize = console.get("/sign-in", follow_redirects=False).headers["location"]
    if gateway is not None:
        assert authorize.startswith(gateway + "/oauth/authorize?"), authorize
    with httpx.Client(timeout=30) as person:
        page = person.get(authorize, follow_redirects=True)
        form = dict(re.findall(r'name="(csrf_token|r)" value="([^"]*)"', page.text))
        answer = person.post(
            str(page.url).split("?")[0].replace("/authorize", "/signin"),
            data={**form, "username": account.username, "password": account.password},
        )
        while answer.status_code in (302, 303) and "/auth/callback" not in answer.headers["location"]:
            answer = person.get(str(answer.url.join(answer.headers["location"])))
        callback = answer.headers["location"]
    assert "/auth/callback" in callback, callback
    done = console.get(callback[callback.index("/auth/callback") :], follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/", done.text


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()
    from scripts import demo as demo_script

    var_dir = tmp_path_factory.mktemp("console-platform")
    # Sessions outlast the slow parts of the run here; the 10-minute idle rule has its own test.
    env = {"CONSOLE_IDLE_TIMEOUT_SECONDS": "3600"}
    runner, tokens = start_platform(var_dir, extra_env=env)
    api = httpx.Client(base_url=runner.url("gateway"), timeout=30)
    try:
        credentials = demo_script.seed(runner)
        seeded_step = int(time.time()) // 30
        ids = json.loads((runner.var_dir / "demo.json").read_text())
        accounts = read_credentials(credentials)
        for account in accounts.values():
            account.used_step = seeded_step
        yield Demo(
            runner.url("gateway"),
            accounts,
            ids,
            api,
            tokens,
            str(runner.var_dir / "console-client.json"),
        )
    finally:
        api.close()
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


class Visit:
    """One person's browser: pages checked with axe, requests held to the platform's address."""

    def __init__(self, browser: Any, demo: Demo, *, javascript: bool = True, width: int = 1024) -> None:  # noqa: F811
        self.demo = demo
        self.context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, base_url=demo.base_url
        )
        self.outside: list[str] = []
        origin = urlsplit(demo.base_url).netloc

        def guard(route: Any) -> None:
            if urlsplit(route.request.url).netloc != origin:
                self.outside.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        self.context.route("**/*", guard)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.checked: list[str] = []
        # axe-core runs in the page's JavaScript: with it off, the page as served is checked in a
        # second page that has it, fed the very HTML (its styles and images from the platform).
        self.checker: Any = None
        if not javascript:
            self.checker = browser.new_context(
                viewport={"width": width, "height": 900}, base_url=demo.base_url
            )
            self.checker.route("**/*", guard)

    def axe(self) -> None:
        """axe-core on the page as it is now: no serious or critical violation."""
        self.page.wait_for_load_state("load")  # a click's navigation has finished, fonts and all
        if self.checker is None:
            assert_accessible(self.page)
        else:
            html, url = self.page.content(), self.page.url
            page = self.checker.new_page()
            page.route(url, lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"))
            page.goto(url)
            assert_accessible(page)
            page.close()
        self.checked.append(self.page.url)

    def goto(self, path: str) -> Any:
        response = self.page.goto(path)
        self.axe()
        return response

    def sign_in(self, role: str, *, fresh: bool = False) -> None:
        if not fresh and role in self.demo.cookies:
            self.context.add_cookies(self.demo.cookies[role])
            self.page.goto("/")
            if "/sign-in" not in self.page.url:
                return
        account = self.demo.accounts[role]
        # The console sends the browser to identity's sign-in page (OIDC authorization code).
        self.page.goto("/sign-in")
        assert "/oauth/" in self.page.url, self.page.url
        self.axe()
        self.page.fill("#username", account.username)
        self.page.fill("#password", account.password)
        self.page.click("button:has-text('Sign in')")
        if account.totp_secret:
            self.axe()
            self.page.fill("#otp", account.otp())
            self.page.click("button:has-text('Continue')")
        assert "/oauth/" not in self.page.url and "/sign-in" not in self.page.url, self.page.content()[:2000]
        self.demo.cookies[role] = self.context.cookies()

    def screenshot(self, name: str) -> None:
        DOCS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        if self.checker is not None:
            self.checker.close()
        assert not self.outside, f"requests outside the platform: {self.outside}"


@pytest.fixture
def visit(browser: Any, demo: Demo) -> Iterator[Any]:  # noqa: F811 - tests.browser's fixture
    opened: list[Visit] = []

    def open_(**options: Any) -> Visit:
        v = Visit(browser, demo, **options)
        opened.append(v)
        return v

    yield open_
    for v in opened:
        v.close()
