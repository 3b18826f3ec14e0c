"""The safeguarding lead: a child's chronology across incidents (what the lead's token may list,
kept to the incidents naming the child), and an action or a referral decision with its rationale
added to an incident (Idempotency-Key made with the form)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def report(demo: Demo, summary: str, person: str) -> dict[str, Any]:
    response = demo.api.post(
        "/v1/incidents",
        headers=demo.headers("teacher"),
        json={
            "category": "cyberbullying",
            "severity": "medium",
            "occurred_at": "2026-09-11T09:00:00Z",
            "summary": summary,
            "location": "on_site",
            "people": [{"person_id": demo.pupil(person)["id"], "role": "affected"}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_lead_records_a_referral_decision_and_reads_the_childs_chronology(visit: Any, demo: Demo) -> None:
    first = report(demo, "Unkind messages to Noah in a class chat (chronology)", "Noah")
    second = report(demo, "Noah's photo edited and shared (chronology)", "Noah")
    someone = next(p["given_name"] for p in demo.ids["pupils"] if p["given_name"] != "Noah")
    other = report(demo, "Someone else's incident (chronology)", someone)
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto(f"/concerns/{second['id']}")
    v.page.click("a:has-text('Add an action or a referral decision')")
    v.axe()

    # A referral decision without its rationale: the service refuses it, nothing is added.
    v.page.check("input[name=kind][value=referral_decision]")
    v.page.select_option("#referred_to", "childrens_social_care")
    v.page.check("input[name=decision][value=not_refer]")
    v.page.click("button:has-text('Add')")
    v.axe()
    assert "There is a problem" in v.page.locator(".govuk-error-summary").inner_text()
    lead = demo.headers("safeguarding_lead")
    assert demo.api.get(f"/v1/incidents/{second['id']}/actions", headers=lead).json() == []

    v.page.fill("#rationale", "Parents engaged, threshold not met; monitor for two weeks")
    v.screenshot("lead-referral-decision")
    v.page.click("button:has-text('Add')")
    v.axe()
    assert "added to the chronology" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"/v1/incidents/{second['id']}/actions", headers=lead).json()
    assert [(a["kind"], a["referred_to"], a["decision"], a["rationale"]) for a in held] == [
        (
            "referral_decision",
            "childrens_social_care",
            "not_refer",
            "Parents engaged, threshold not met; monitor for two weeks",
        )
    ]
    assert "threshold not met" in v.page.locator("main").inner_text()

    # The same form sent twice (a double click, a resend): one action.
    v.page.go_back()
    v.page.go_back()
    v.page.click("button:has-text('Add')")
    assert len(demo.api.get(f"/v1/incidents/{second['id']}/actions", headers=lead).json()) == 1

    v.goto(f"/people/{demo.pupil('Noah')['id']}/chronology")
    table = v.page.locator("[data-testid=chronology]").inner_text()
    assert first["reference"] in table and second["reference"] in table
    assert "Do not refer (Children's social care)" in table
    assert other["reference"] not in table
    v.screenshot("lead-child-chronology")
