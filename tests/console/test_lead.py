"""Journey 2, the safeguarding lead: the inbox (most severe, then newest, first; unread ones marked) and
an incident's page (people, chronology, evidence, restriction, legal hold), changed with If-Match."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def report(demo: Demo, severity: str, summary: str) -> dict[str, Any]:
    response = demo.api.post(
        "/v1/incidents",
        headers=demo.headers("teacher"),
        json={
            "category": "cyberbullying",
            "severity": severity,
            "occurred_at": "2026-09-10T10:00:00Z",
            "summary": summary,
            "location": "on_site",
            "people": [{"person_id": demo.pupil("Noah")["id"], "role": "affected"}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_lead_sees_the_most_severe_first_and_changes_one_with_if_match(visit: Any, demo: Demo) -> None:
    low = report(demo, "low", "Name-calling in a game chat (lead inbox)")
    critical = report(demo, "critical", "Threats sent to Noah at night (lead inbox)")
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto("/concerns")
    rows = v.page.locator("[data-testid=inbox] tbody tr").all_inner_texts()
    refs = [r.split()[0] for r in rows]
    assert refs.index(critical["reference"]) < refs.index(low["reference"])
    assert "Unread" in rows[refs.index(critical["reference"])]
    v.screenshot("lead-inbox")
    v.page.click(f"a:has-text('{critical['reference']}')")
    v.axe()
    assert "Noah Adeyemi (affected)" in v.page.locator("main").inner_text()
    v.page.select_option("#status", "under_review")
    v.page.click("button:has-text('Save')")
    v.axe()
    assert "updated" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"/v1/incidents/{critical['id']}", headers=demo.headers("safeguarding_lead")).json()
    assert held["status"] == "under_review"

    # Someone else changes it meanwhile: the page's ETag is stale, so nothing is saved.
    v.goto(f"/concerns/{critical['id']}")
    etag = demo.api.get(f"/v1/incidents/{critical['id']}", headers=demo.headers("safeguarding_lead")).headers[
        "etag"
    ]
    demo.api.patch(
        f"/v1/incidents/{critical['id']}",
        headers={**demo.headers("safeguarding_lead"), "If-Match": etag},
        json={"status": "action_taken"},
    )
    v.page.select_option("#status", "closed")
    v.page.click("button:has-text('Save')")
    assert v.page.locator("h1").inner_text() == "Someone changed this while you were editing it"
    after = demo.api.get(f"/v1/incidents/{critical['id']}", headers=demo.headers("safeguarding_lead")).json()
    assert after["status"] == "action_taken"


def unread_alerts(demo: Demo, incident_id: str) -> list[dict[str, Any]]:
    found = demo.api.get(
        "/v1/incidents/alerts/mine",
        params={"target_id": incident_id},
        headers=demo.headers("safeguarding_lead"),
    )
    assert found.status_code == 200, found.text
    return [a for a in found.json()["items"] if a["read_at"] is None]


def test_a_concern_is_unread_in_the_inbox_until_the_lead_opens_it(visit: Any, demo: Demo) -> None:
    concern = report(demo, "high", "Messages from an adult stranger (unread in the inbox)")
    assert unread_alerts(demo, concern["id"]), "the lead was alerted"
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto("/concerns")
    row = v.page.locator("[data-testid=inbox] tbody tr", has_text=concern["reference"])
    assert row.get_attribute("data-unread") == "true"
    assert row.locator(".govuk-tag", has_text="Unread").is_visible()
    # A screen reader hears it in the link's own name, which is what a list of links reads out.
    link = row.get_by_role("link", name=f"{concern['reference']} (unread)")
    assert link.count() == 1
    v.axe()
    link.click()
    assert v.page.url.endswith(f"/concerns/{concern['id']}")
    assert unread_alerts(demo, concern["id"]) == []
    v.goto("/concerns")
    row = v.page.locator("[data-testid=inbox] tbody tr", has_text=concern["reference"])
    assert row.get_attribute("data-unread") is None
    assert "Unread" not in row.inner_text() and "(unread)" not in row.inner_text()
    assert row.get_by_role("link", name=concern["reference"], exact=True).count() == 1


def test_a_teacher_is_not_offered_the_inbox(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("teacher")
    assert "Concerns inbox" not in v.page.locator("#navigation a").all_inner_texts()
