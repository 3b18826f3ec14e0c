"""Identity's pages in a real browser (Debian's Chromium), through the gateway of a running platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servicekit.testing import drop_test_database
from tests.browser import assert_accessible
from tests.platform import start_platform

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    runner, _tokens = start_platform(Path(tmp_path_factory.mktemp("pages")), services="identity")
    try:
        yield runner.url("gateway")
    finally:
        runner.stop()
        for url in runner.database_urls.values():
            drop_test_database(url)


def test_a_page_has_the_strict_headers_and_its_own_stylesheet(gateway_url: str) -> None:
    response = httpx.get(gateway_url + "/oauth/signin")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert '<link rel="stylesheet" href="/oauth/assets/identity.css">' in response.text
    css = httpx.get(gateway_url + "/oauth/assets/identity.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert httpx.get(gateway_url + "/oauth/assets/nothing.js").status_code == 404


def test_the_page_is_accessible_on_a_phone(page, gateway_url: str) -> None:
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(gateway_url + "/oauth/signin")
    assert page.locator("h1").inner_text() == "Sign in from the service you want to use"
    # The stylesheet applied (CSP allowed it) and nothing else was asked for.
    assert page.evaluate("getComputedStyle(document.querySelector('.header')).borderBottomStyle") == "solid"
    assert not failed
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert_accessible(page)
