"""Journey 7, the computing lead: the staff device register. Noting a device (Idempotency-Key: a
double submit notes one) and changing it (the head teacher's permission to take images, its
withdrawal, removal) with If-Match and the "someone changed this" page on 412."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes

URL = "/v1/devices/staff-devices"


def form_data(page: Any, selector: str) -> dict[str, str]:
    form = page.locator(selector)
    return {
        el.get_attribute("name"): el.input_value()
        for el in form.locator("input:not([type=radio]):not([type=checkbox]), select, textarea").all()
        if el.get_attribute("name")
    }


def register(demo: Demo) -> list[dict[str, Any]]:
    held = demo.api.get(URL, headers=demo.headers("computing_lead"), params={"limit": 200})
    assert held.status_code == 200, held.text
    return list(held.json()["items"])


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_computing_lead_notes_a_staff_device_once(visit: Any, demo: Demo, javascript: bool) -> None:
    serial = f"IMEI-3548-092{int(javascript)}"
    v = visit(javascript=javascript)
    v.sign_in("computing_lead")
    v.goto("/staff-devices")
    # Nothing entered: the service's refusals next to the fields, nothing noted.
    v.page.click("button:has-text('Note the device')")
    v.axe()
    assert v.page.locator("#owner_id-error").is_visible()
    assert v.page.locator("#serial_number-error").is_visible()
    assert not any(d["serial_number"] == serial for d in register(demo))
    v.page.fill("#q", "Grace")
    v.page.click("button:has-text('Search')")
    v.axe()
    v.page.check("label:has-text('Grace Lin')")
    v.page.select_option("#kind", "phone")
    v.page.fill("#make", "Samsung")
    v.page.fill("#model", "Galaxy A54")
    v.page.fill("#serial_number", serial)
    data = form_data(v.page, "form[action='/staff-devices']")
    data.update(owner_id=v.page.locator("[name=owner_id]:checked").input_value(), action="note")
    v.page.click("button:has-text('Note the device')")
    v.axe()
    banner = v.page.locator(".govuk-notification-banner").inner_text()
    assert f"Noted: Grace Lin's Samsung Galaxy A54 ({serial})" in banner
    assert "Not allowed" in v.page.locator("[data-testid=images-permitted]").inner_text()
    [held] = [d for d in register(demo) if d["serial_number"] == serial]
    assert held["owner_id"] == demo.ids["staff"]["teacher"]
    assert (held["kind"], held["make"], held["model"], held["images_permitted"]) == (
        "phone",
        "Samsung",
        "Galaxy A54",
        False,
    )
    # The same form sent again (a double click, a resend): the first answer replayed, one device.
    again = v.page.request.post("/staff-devices", form=data, max_redirects=0)
    assert again.status == 303 and again.headers["location"] == f"/staff-devices/{held['id']}"
    assert sum(1 for d in register(demo) if d["serial_number"] == serial) == 1
    v.goto("/staff-devices")
    assert serial in v.page.locator("[data-testid=staff-devices]").inner_text()
    if javascript:
        v.screenshot("computing-staff-devices")


def test_the_head_teachers_permission_is_recorded_and_a_stale_change_is_refused(
    visit: Any, demo: Demo
) -> None:
    lead_api = demo.headers("computing_lead")
    noted = demo.api.post(
        URL,
        headers={**lead_api, "Idempotency-Key": "c-staff-device-camera"},
        json={
            "owner_id": demo.ids["staff"]["teacher"],
            "kind": "camera",
            "make": "Canon",
            "model": "EOS R50",
            "serial_number": "CAN-0042-R50",
        },
    )
    assert noted.status_code == 201, noted.text
    device = noted.json()
    v = visit()
    v.sign_in("computing_lead")
    v.goto("/staff-devices")
    v.page.click("tr:has-text('CAN-0042-R50') a")
    v.axe()
    assert "Not allowed" in v.page.locator("[data-testid=images-permitted]").inner_text()

    # Someone who is not the head teacher cannot permit images: the service's refusal by the field.
    v.page.select_option("#permitted_by", label="Grace Lin")
    v.page.fill("#purpose", "Photos of the Year 5 trip to the Science Museum for the class blog")
    v.page.fill("#valid_until", "2030-06-12")
    v.page.click("button:has-text('Record the permission')")
    v.axe()
    assert "head teacher" in v.page.locator("#permitted_by-error").inner_text()
    assert demo.api.get(f"{URL}/{device['id']}", headers=lead_api).json()["image_permissions"] == []
    v.page.select_option("#permitted_by", label="Helen Ward")
    v.page.click("button:has-text('Record the permission')")
    v.axe()
    assert (
        "permission to take images is recorded" in v.page.locator(".govuk-notification-banner").inner_text()
    )
    shown = v.page.locator("[data-testid=images-permitted]").inner_text()
    assert "Allowed" in shown and "Helen Ward" in shown and "2030-06-12 16:00" in shown
    v.screenshot("computing-staff-device-images")
    held = demo.api.get(f"{URL}/{device['id']}", headers=lead_api).json()
    assert held["images_permitted"] is True
    assert held["images_permitted_by"] == demo.ids["staff"]["head_teacher"]
    assert held["images_permitted_until"].startswith("2030-06-12T16:00")

    # The head withdraws it (recorded through the API) while the page is open: taking the device
    # off the register from the stale page is refused with the "someone changed this" page.
    etag = demo.api.get(f"{URL}/{device['id']}", headers=lead_api).headers["etag"]
    withdrawn = demo.api.post(
        f"{URL}/{device['id']}/image-permission-withdrawals",
        headers={**lead_api, "If-Match": etag, "Idempotency-Key": "c-staff-device-withdraw"},
        json={"withdrawn_by": demo.ids["staff"]["head_teacher"], "reason": "Trip postponed"},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    v.page.select_option("#removal_reason", "replaced")
    v.page.click("button:has-text('Take it off the register')")
    v.axe()
    assert v.page.locator("h1").inner_text() == "Someone changed this while you were editing it"
    held = demo.api.get(f"{URL}/{device['id']}", headers=lead_api).json()
    assert held["status"] == "active"
    assert [p["action"] for p in held["image_permissions"]] == ["granted", "withdrawn"]

    # Opened again, the latest version: withdrawn is shown, and removal now goes through.
    v.page.click("a:has-text('Open it again')")
    v.axe()
    assert "Not allowed" in v.page.locator("[data-testid=images-permitted]").inner_text()
    assert "Trip postponed" in v.page.locator("[data-testid=image-permissions]").inner_text()
    v.page.select_option("#removal_reason", "replaced")
    v.page.click("button:has-text('Take it off the register')")
    v.axe()
    assert "Taken off the register" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"{URL}/{device['id']}", headers=lead_api).json()
    assert (held["status"], held["removal_reason"]) == ("removed", "replaced")
