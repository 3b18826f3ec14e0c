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
    v.goto("/ict-assets")
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


def test_the_computing_lead_lends_an_asset_and_takes_it_back(visit: Any, demo: Demo) -> None:
    asset = demo.api.post(
        "/v1/devices/assets",
        headers={**demo.headers("computing_lead"), "Idempotency-Key": "c-head-loan-asset"},
        json={
            "asset_tag": "SP-TAB-007",
            "kind": "tablet",
            "make": "Apple",
            "model": "iPad 10",
            "location": "Year 3 trolley",
            "holds_personal_data": False,
            "is_encrypted": True,
        },
    )
    assert asset.status_code == 201, asset.text
    v = visit()
    v.sign_in("computing_lead")
    v.goto("/ict-assets")
    v.page.click("tr:has-text('SP-TAB-007') a")
    v.axe()
    v.page.fill("#q", "Grace")
    v.page.click("button:has-text('Search')")
    v.axe()
    v.page.check("label:has-text('Grace Lin')")
    v.page.fill("#due_on", "2030-07-20")
    v.page.click("button:has-text('Lend the asset')")
    v.axe()
    assert "Lent: SP-TAB-007" in v.page.locator(".govuk-notification-banner").inner_text()
    v.screenshot("computing-loans")
    held = demo.api.get(f"/v1/devices/assets/{asset.json()['id']}", headers=demo.headers("computing_lead"))
    assert held.json()["status"] == "on_loan"
    v.page.click("[data-testid=loans] tr:has-text('SP-TAB-007') button")
    v.axe()
    assert "Returned: SP-TAB-007" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"/v1/devices/assets/{asset.json()['id']}", headers=demo.headers("computing_lead"))
    assert held.json()["status"] == "in_service"


def test_the_computing_lead_disposes_of_a_laptop_with_its_wipe_certificate(visit: Any, demo: Demo) -> None:
    asset = demo.api.post(
        "/v1/devices/assets",
        headers={**demo.headers("computing_lead"), "Idempotency-Key": "c-head-dispose-asset"},
        json={
            "asset_tag": "SP-LAP-001",
            "kind": "laptop",
            "make": "Dell",
            "model": "Latitude 3300",
            "location": "Office",
            "holds_personal_data": True,
            "is_encrypted": True,
        },
    )
    assert asset.status_code == 201, asset.text
    v = visit()
    v.sign_in("computing_lead")
    v.goto("/ict-assets")
    v.page.click("tr:has-text('SP-LAP-001') a:has-text('Dispose')")
    v.axe()
    v.page.fill("#disposed_on", "2026-11-30")
    v.page.fill("#agency", "Green IT Recycling")
    v.page.fill("#receipt_reference", "GIR-5521")
    v.page.check("label:has-text('Wiped')")
    v.screenshot("computing-disposal")
    v.page.click("button:has-text('Record the disposal')")
    v.axe()
    # A wipe without its certificate is refused next to the field, and nothing is disposed of.
    assert v.page.locator(".govuk-error-summary").is_visible()
    held = demo.api.get(f"/v1/devices/assets/{asset.json()['id']}", headers=demo.headers("computing_lead"))
    assert held.json()["status"] != "disposed"
    v.page.fill("#certificate_reference", "WIPE-2026-118")
    v.page.click("button:has-text('Record the disposal')")
    v.axe()
    assert "Disposal recorded" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"/v1/devices/assets/{asset.json()['id']}", headers=demo.headers("computing_lead"))
    assert held.json()["status"] == "disposed"


def test_the_computing_lead_sees_the_staff_device_register_as_the_api_holds_it(
    visit: Any, demo: Demo
) -> None:
    v = visit()
    v.sign_in("computing_lead")
    assert "Staff devices" in v.page.locator("#navigation a").all_inner_texts()
    v.goto("/staff-devices")
    held = demo.api.get(
        "/v1/devices/staff-devices", headers=demo.headers("computing_lead"), params={"limit": 200}
    ).json()["items"]
    text = v.page.locator("main").inner_text()
    for device in held:
        assert device["serial_number"] in text
    if not held:
        assert "No staff devices are registered." in text
