"""Journey 7, the computing lead: the school's ICT assets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def test_the_computing_lead_registers_an_asset(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("computing_lead")
    assert "ICT assets" in v.page.locator("#navigation a").all_inner_texts()
    v.goto("/assets")
    # Nothing chosen: the service's refusals next to the fields, nothing registered.
    v.page.fill("#asset_tag", "SP-LAP-042")
    v.page.click("button:has-text('Register the asset')")
    v.axe()
    assert v.page.locator(".govuk-error-summary").is_visible()
    assert v.page.locator("#kind-error").is_visible()
    v.page.select_option("#kind", "laptop")
    v.page.fill("#make", "Lenovo")
    v.page.fill("#model", "ThinkPad E14")
    v.page.fill("#location", "Computing suite")
    v.page.check("#holds_personal_data-true, [name=holds_personal_data][value=true]")
    v.page.check("#is_encrypted-true, [name=is_encrypted][value=true]")
    v.page.click("button:has-text('Register the asset')")
    v.axe()
    assert "Asset registered: SP-LAP-042" in v.page.locator(".govuk-notification-banner").inner_text()
    assert "SP-LAP-042" in v.page.locator("[data-testid=assets]").inner_text()
    v.screenshot("computing-assets")
    held = demo.api.get("/v1/devices/assets", headers=demo.headers("computing_lead"), params={"limit": 200})
    tags = [a["asset_tag"] for a in held.json()["items"]]
    assert tags.count("SP-LAP-042") == 1
