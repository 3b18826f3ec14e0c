"""Staff alerts in the console (issue 15): the safeguarding lead sees the alert of a new concern,
opens it by the e-mail's link (`/alerts/<id>`), lands on the concern, and the alert is read after;
the member of staff an allegation names sees no alert of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def report(demo: Demo, body: dict[str, Any]) -> dict[str, Any]:
    response = demo.api.post("/v1/incidents", headers=demo.headers("teacher"), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def lead_alerts(demo: Demo) -> list[dict[str, Any]]:
    response = demo.api.get("/v1/incidents/alerts/mine", headers=demo.headers("safeguarding_lead"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_the_lead_opens_a_new_concerns_alert_from_its_link(visit: Any, demo: Demo) -> None:
    incident = report(
        demo,
        {
            "category": "cyberbullying",
            "severity": "high",
            "occurred_at": "2026-09-10T10:00:00Z",
            "summary": "Messages about Noah in a class group chat (alerts)",
            "location": "on_site",
            "people": [{"person_id": demo.pupil("Noah")["id"], "role": "affected"}],
        },
    )
    alert = next(a for a in lead_alerts(demo) if a["target_id"] == incident["id"])
    assert alert["read_at"] is None

    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto("/alerts")
    row = v.page.locator(f"[data-alert-id='{alert['id']}']")
    assert "Unread" in row.inner_text()
    # The list says nothing of the concern: no summary, no child, no reference.
    main = v.page.locator("main").inner_text()
    assert "Noah" not in main and incident["reference"] not in main
    assert v.page.locator("[data-testid=alerts-link] .govuk-tag").count() == 1
    v.screenshot("alerts")

    v.goto(f"/alerts/{alert['id']}")
    assert v.page.url.endswith(f"/concerns/{incident['id']}")
    assert incident["reference"] in v.page.locator("main").inner_text()
    after = next(a for a in lead_alerts(demo) if a["id"] == alert["id"])
    assert after["read_at"] is not None

    v.goto("/alerts")
    assert "Read" in v.page.locator(f"[data-alert-id='{alert['id']}']").inner_text()


def test_an_alert_that_is_not_yours_opens_nothing(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto("/alerts/00000000-0000-4000-8000-000000000000")
    assert v.page.locator("h1").inner_text() == "There is nothing to open"
    v.goto("/alerts/not-an-id")
    assert v.page.locator("h1").inner_text() == "There is nothing to open"


def test_the_subject_of_an_allegation_sees_no_alert_of_it(visit: Any, demo: Demo) -> None:
    incident = report(
        demo,
        {
            "category": "allegation_against_staff",
            "severity": "high",
            "occurred_at": "2026-09-10T10:00:00Z",
            "summary": "A pupil says a member of staff messaged them privately (alerts)",
            "location": "on_site",
            "people": [{"person_id": demo.ids["staff"]["safeguarding_lead"], "role": "subject"}],
        },
    )
    assert all(a["target_id"] != incident["id"] for a in lead_alerts(demo))
    v = visit()
    v.sign_in("safeguarding_lead")
    v.goto("/alerts")
    ids = v.page.locator("[data-alert-id]").evaluate_all("rows => rows.map(r => r.dataset.alertId)")
    head = demo.api.get("/v1/incidents/alerts/mine", headers=demo.headers("head_teacher")).json()["items"]
    # The head teacher has it; none of its alerts is on the subject's page.
    heads = {a["id"] for a in head if a["target_id"] == incident["id"]}
    assert heads and not heads & set(ids)
