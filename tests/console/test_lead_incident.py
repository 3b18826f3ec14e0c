"""Journey 2, the safeguarding lead on an incident's page: evidence (never imagery for nudes and
semi-nudes), restriction (it follows the category), and the legal hold, changed with If-Match."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def report(demo: Demo, category: str, summary: str) -> dict[str, Any]:
    response = demo.api.post(
        "/v1/incidents",
        headers=demo.headers("teacher"),
        json={
            "category": category,
            "severity": "high",
            "occurred_at": "2026-09-11T09:30:00Z",
            "summary": summary,
            "location": "on_site",
            "people": [{"person_id": demo.pupil("Noah")["id"], "role": "affected"}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def form_data(page: Any, selector: str) -> dict[str, str]:
    """What the form would send (its hidden CSRF token and Idempotency-Key included)."""
    form = page.locator(selector)
    return {
        el.get_attribute("name"): el.input_value()
        for el in form.locator("input:not([type=radio]):not([type=checkbox]), select, textarea").all()
        if el.get_attribute("name")
    }


def evidence_of(demo: Demo, incident: dict[str, Any]) -> list[dict[str, Any]]:
    held = demo.api.get(f"/v1/incidents/{incident['id']}/evidence", headers=demo.headers("safeguarding_lead"))
    assert held.status_code == 200, held.text
    return list(held.json())


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_lead_adds_evidence_and_a_double_submit_adds_it_once(
    visit: Any, demo: Demo, javascript: bool
) -> None:
    incident = report(demo, "cyberbullying", f"Messages about Noah in a group chat (evidence, {javascript})")
    v = visit(javascript=javascript)
    v.sign_in("safeguarding_lead")
    v.goto(f"/concerns/{incident['id']}")
    v.page.click("a:has-text('Add evidence')")
    v.axe()
    # Every kind of the register is offered for an incident that is not about nudes.
    offered = v.page.locator("[name=kind]").evaluate_all("els => els.map(e => e.value)")
    assert {"screenshot", "image", "video", "device"} <= set(offered)
    # Nothing entered: the service's refusals next to the fields, nothing stored.
    v.page.click("button:has-text('Add the evidence')")
    v.axe()
    assert v.page.locator(".govuk-error-summary").is_visible()
    assert v.page.locator("#kind-error").is_visible()
    assert evidence_of(demo, incident) == []
    # A screenshot without its hash is refused by the service too.
    v.page.check("label:has-text('A screenshot')")
    v.page.fill("#description", "Screenshot of the group chat, 11 September, 21:40")
    v.page.fill("#stored_at", "Safeguarding drive, incident folder")
    v.page.fill("#held_by", "Sam Okafor (DSL)")
    v.page.click("button:has-text('Add the evidence')")
    v.axe()
    assert "sha256" in v.page.locator(".govuk-error-summary").inner_text()
    assert evidence_of(demo, incident) == []
    v.page.fill("#sha256", SHA)
    data = form_data(v.page, "form[action$='/evidence/new']") | {"kind": "screenshot"}
    v.page.click("button:has-text('Add the evidence')")
    v.axe()
    assert "Evidence added: a screenshot" in v.page.locator(".govuk-notification-banner").inner_text()
    assert "Screenshot of the group chat" in v.page.locator("[data-testid=evidence]").inner_text()
    [held] = evidence_of(demo, incident)
    assert (held["kind"], held["sha256"], held["held_by"]) == ("screenshot", SHA, "Sam Okafor (DSL)")
    # The same form sent again (a double click, a resend): the first answer replayed, one record.
    again = v.page.request.post(f"/concerns/{incident['id']}/evidence/new", form=data, max_redirects=0)
    assert again.status == 303
    assert len(evidence_of(demo, incident)) == 1


def test_nudes_incidents_never_take_imagery_as_evidence(visit: Any, demo: Demo) -> None:
    incident = report(demo, "sexting", "An image of a pupil shared in Year 6 (evidence)")
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto(f"/concerns/{incident['id']}/evidence/new")
    # Only the device is offered, and the page says why.
    assert v.page.locator("[name=kind]").evaluate_all("els => els.map(e => e.value)") == ["device"]
    assert v.page.locator("#sha256").count() == 0
    warning = v.page.locator("[data-testid=no-imagery]").inner_text()
    assert "Never view, copy, forward, screenshot or store the imagery" in warning
    v.page.fill("#description", "Noah's phone, switched off, in a sealed bag")
    v.page.fill("#stored_at", "The head's safe")
    v.page.fill("#held_by", "Helen Ward (head teacher)")
    v.page.fill("#handed_on", "2026-09-11")
    v.page.fill("#handed_time", "15:10")
    v.page.fill("#police_reference", "MET-2026-4471")
    v.screenshot("lead-evidence-no-imagery")
    data = form_data(v.page, "form[action$='/evidence/new']")
    v.page.click("button:has-text('Add the evidence')")
    v.axe()
    assert "Evidence added: a device" in v.page.locator(".govuk-notification-banner").inner_text()
    [device] = evidence_of(demo, incident)
    assert device["kind"] == "device" and device["device_secured"] is True
    assert device["police_reference"] == "MET-2026-4471"
    assert device["handed_to_police_at"].startswith("2026-09-11T15:10")

    # The attack: an imagery kind posted straight to the console, round the page's options. The
    # service refuses it, the page shows its refusal, and nothing is stored.
    for kind in ("image", "screenshot", "video"):
        attack = dict(data, kind=kind, sha256=SHA, idempotency_key=f"imagery-attack-{kind}")
        refused = v.page.request.post(
            f"/concerns/{incident['id']}/evidence/new", form=attack, max_redirects=0
        )
        assert refused.status == 422
        assert "never viewed, copied or stored" in refused.text()
    # A device not secured is refused too.
    unsecured = dict(data, kind="device", idempotency_key="imagery-attack-unsecured")
    refused = v.page.request.post(f"/concerns/{incident['id']}/evidence/new", form=unsecured, max_redirects=0)
    assert refused.status == 422
    assert [e["kind"] for e in evidence_of(demo, incident)] == ["device"]


def test_restricting_an_incident_hides_it_from_the_teacher_who_reported_it(visit: Any, demo: Demo) -> None:
    incident = report(demo, "cyberbullying", "Noah was sent a stranger's pictures (restriction)")
    teacher = visit()
    teacher.sign_in("teacher")
    teacher.goto(f"/concerns/{incident['id']}")
    assert "Restricted" in teacher.page.locator("[data-testid=incident]").inner_text()
    assert teacher.page.locator("button:has-text('Save')").count() == 0  # no change form for a teacher

    lead = visit()
    lead.sign_in("safeguarding_lead")
    lead.goto(f"/concerns/{incident['id']}")
    assert lead.page.locator("[data-testid=restricted]").inner_text().startswith("No")
    lead.page.select_option("#category", "sexting")
    lead.page.click("button:has-text('Save')")
    lead.axe()
    assert (
        "Yes: only the safeguarding lead and the head teacher"
        in lead.page.locator("[data-testid=restricted]").inner_text()
    )
    held = demo.api.get(f"/v1/incidents/{incident['id']}", headers=demo.headers("safeguarding_lead"))
    assert held.status_code == 200 and held.json()["is_restricted"] is True

    # The teacher who reported it no longer sees it: the service's own 404, in the API and the console.
    assert demo.api.get(f"/v1/incidents/{incident['id']}", headers=demo.headers("teacher")).status_code == 404
    response = teacher.goto(f"/concerns/{incident['id']}")
    assert response.status == 404
    assert "Noah was sent" not in teacher.page.locator("main").inner_text()


def test_the_legal_hold_is_placed_with_if_match_and_released_only_by_the_head(visit: Any, demo: Demo) -> None:
    incident = report(demo, "cyberbullying", "Threats to Noah, parents considering court (legal hold)")
    lead_api = demo.headers("safeguarding_lead")
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto(f"/concerns/{incident['id']}")

    # Someone else changes it between loading the page and saving: nothing is saved.
    etag = demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).headers["etag"]
    changed = demo.api.patch(
        f"/v1/incidents/{incident['id']}",
        headers={**lead_api, "If-Match": etag},
        json={"severity": "critical"},
    )
    assert changed.status_code == 200, changed.text
    v.page.check("#legal_hold")
    v.page.fill("#legal_hold_reason", "Solicitor's letter of 12 September")
    v.page.click("button:has-text('Save')")
    v.axe()
    assert v.page.locator("h1").inner_text() == "Someone changed this while you were editing it"
    assert demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).json()["legal_hold"] is False

    # Opened again: the hold needs its reason (the service's refusal next to the field), then holds.
    v.page.click("a:has-text('Open it again')")
    v.axe()
    v.page.check("#legal_hold")
    v.page.click("button:has-text('Save')")
    v.axe()
    assert v.page.locator("#legal_hold_reason-error, .govuk-error-summary").first.is_visible()
    assert demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).json()["legal_hold"] is False
    v.page.check("#legal_hold")
    v.page.fill("#legal_hold_reason", "Solicitor's letter of 12 September")
    v.page.click("button:has-text('Save')")
    v.axe()
    assert "Yes: Solicitor's letter" in v.page.locator("[data-testid=legal-hold]").inner_text()
    held = demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).json()
    assert held["legal_hold"] is True and held["legal_hold_reason"] == "Solicitor's letter of 12 September"

    # The lead is not offered the release; sent anyway, the service refuses it and the hold stays.
    assert "Only the head teacher can release the legal hold." in v.page.locator("main").inner_text()
    data = form_data(v.page, f"form[action='/concerns/{incident['id']}']") | {"legal_hold": "release"}
    refused = v.page.request.post(f"/concerns/{incident['id']}", form=data, max_redirects=0)
    assert refused.status == 403
    assert "Only the head teacher" in refused.text()
    assert demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).json()["legal_hold"] is True

    # The head teacher releases it.
    head = visit()
    head.sign_in("head_teacher")
    head.goto(f"/concerns/{incident['id']}")
    head.page.check("label:has-text('Release the legal hold')")
    head.page.click("button:has-text('Save')")
    head.axe()
    assert head.page.locator("[data-testid=legal-hold]").inner_text() == "No"
    assert demo.api.get(f"/v1/incidents/{incident['id']}", headers=lead_api).json()["legal_hold"] is False
