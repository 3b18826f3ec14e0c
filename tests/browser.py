"""A real browser for the page tests: Debian's Chromium driven by Playwright, and axe-core.

    from tests.browser import assert_accessible, browser, page  # noqa: F401 - fixtures

    def test_sign_in(page):
        page.goto(url)
        assert_accessible(page)

Chromium is /usr/bin/chromium (`python3 manage.py test` installs Debian's package when it can,
scripts/browsers.py); Playwright never downloads a browser. Without Chromium the tests skip with
the reason, except in CI (`CI` set), where a missing browser fails them: CI never passes by skipping. Each test gets a fresh context: no cookie or storage carries over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NO_CHROMIUM = "no /usr/bin/chromium: install Debian's chromium (apt-get install -y chromium)"


def require_chromium() -> None:
    """Skip without the browser on a developer's machine; fail in CI, where the test command installs it."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(NO_CHROMIUM)
    pytest.skip(NO_CHROMIUM)


# What the pages must pass: axe-core finds no violation of these impacts.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# A phone (WCAG 1.4.10 reflow: 320 CSS px; 360 is a common small phone).
PHONE: ViewportSize = {"width": 360, "height": 740}


# Per module, not per session: sync Playwright runs its own event loop in this thread while it is
# open, and the async tests of later modules need theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (its own cookies), the size of a small phone."""
    context = browser.new_context(viewport=PHONE, java_script_enabled=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules, and best practice)."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(
        page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}
    )
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page."""
    blocking = [v for v in axe_violations(page) if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in blocking
    )
