"""Journey 4, the head teacher: authorise a phone search, read the audit logs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def test_the_head_authorises_a_search_of_a_confiscated_phone(visit: Any, demo: Demo) -> None:
    mia = demo.pupil("Ava")["id"]
    created = demo.api.post(
        "/v1/devices/phone-custody",
        headers=demo.headers("office"),
        json={
            "pupil_id": mia,
            "kind": "confiscation",
            "description": "Green phone (search)",
            "storage_location": "Office safe",
            "reason": "Threats sent to another pupil",
        },
    ).json()
    v = visit()
    v.sign_in("head_teacher")
    nav = v.page.locator("#navigation a").all_inner_texts()
    assert "Phone searches" in nav and "Audit logs" in nav
    v.goto("/phones/searches")
    v.page.click("a:has-text('Search'):has-text('Green phone (search)')")
    v.axe()
    # No reason and no outcome: the service's refusal is shown next to the fields, nothing is kept.
    v.page.click("button:has-text('Record the search')")
    v.axe()
    assert v.page.locator(".govuk-error-summary").is_visible()
    assert v.page.locator("#outcome-error, #reason-error").count() >= 1
    v.page.fill("#reason", "Reported threats; the pupil refused to show the messages")
    v.page.check("label:has-text('Retained as evidence')")
    v.page.fill("#findings", "Threatening messages kept on the phone")
    v.screenshot("head-phone-search")
    v.page.click("button:has-text('Record the search')")
    v.axe()
    assert "Search recorded" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(
        f"/v1/devices/phone-custody/{created['id']}", headers=demo.headers("head_teacher")
    ).json()
    searched = [e for e in held["events"] if e["kind"] == "searched"]
    assert len(searched) == 1, held["events"]
    # What the office sees of the record leaves the search out.
    office = demo.api.get(f"/v1/devices/phone-custody/{created['id']}", headers=demo.headers("office")).json()
    assert not [e for e in office["events"] if e["kind"] == "searched"]


def test_the_head_reads_the_devices_audit_log(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("head_teacher")
    v.goto("/audit?service=devices")
    api = demo.api.get("/v1/devices/audit", headers=demo.headers("head_teacher"), params={"limit": 50}).json()
    text = v.page.locator("main").inner_text()
    assert api["items"], api
    for entry in api["items"][:5]:
        assert entry["action"] in text
    v.screenshot("head-audit")
    v.goto("/audit?service=incidents")
    assert v.page.locator("h1").inner_text() == "Audit log: Incidents"


def test_the_office_is_not_offered_searches_or_audit(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("office")
    nav = v.page.locator("#navigation a").all_inner_texts()
    assert not {"Phone searches", "Audit logs", "Never publish"} & set(nav)
    assert v.goto("/audit?service=devices").status == 403


def test_the_head_marks_a_pupil_never_publish_and_clears_it(visit: Any, demo: Demo) -> None:
    leo = demo.pupil("Ruby")  # (the demo already marks Leo)
    v = visit()
    v.sign_in("head_teacher")
    v.goto(f"/never-publish?q={leo['given_name']}")
    v.page.click(f"[data-testid=found] li:has-text('{leo['family_name']}') button")
    v.axe()
    assert "never publish" in v.page.locator(".govuk-notification-banner").inner_text()
    assert leo["family_name"] in v.page.locator("[data-testid=flagged]").inner_text()
    v.screenshot("head-never-publish")
    held = demo.api.get(
        f"/v1/media-consent/pupils/{leo['id']}/never-publish", headers=demo.headers("head_teacher")
    ).json()
    assert held["is_active"] is True
    v.page.click(f"[data-testid=flagged] tr:has-text('{leo['family_name']}') button")
    v.axe()
    held = demo.api.get(
        f"/v1/media-consent/pupils/{leo['id']}/never-publish", headers=demo.headers("head_teacher")
    ).json()
    assert held["is_active"] is False


def test_the_head_sees_allegations_against_staff_and_the_lead_does_not(visit: Any, demo: Demo) -> None:
    created = demo.api.post(
        "/v1/incidents",
        headers=demo.headers("teacher"),
        json={
            "category": "allegation_against_staff",
            "severity": "high",
            "occurred_at": "2026-09-15T10:00:00Z",
            "summary": "A pupil says a member of staff messaged them privately",
            "location": "off_site",
            "people": [],
        },
    )
    assert created.status_code == 201, created.text
    reference = created.json()["reference"]
    v = visit()
    v.sign_in("head_teacher")
    assert "Allegations" in v.page.locator("#navigation a").all_inner_texts()
    v.goto("/allegations")
    assert reference in v.page.locator("[data-testid=allegations]").inner_text()
    v.screenshot("head-allegations")
    api = demo.api.get(
        "/v1/incidents",
        headers=demo.headers("head_teacher"),
        params={"category": "allegation_against_staff", "limit": 200},
    ).json()
    assert reference in [i["reference"] for i in api["items"]]
    lead = visit()
    lead.sign_in("safeguarding_lead")
    assert "Allegations" not in lead.page.locator("#navigation a").all_inner_texts()
    lead.goto("/allegations")
    assert reference not in lead.page.locator("main").inner_text()
