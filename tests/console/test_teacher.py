"""Journey 1, the teacher: report a concern, check a group photo, hand in or confiscate a phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def report(v: Any, *, summary: str, search: str, tick: str) -> str:
    page = v.page
    v.goto("/concerns/new")
    page.select_option("#category", "cyberbullying")
    page.fill("#summary", summary)
    page.check("text=In school")
    page.check("text=Medium")
    page.fill("#q", search)
    page.click("button:has-text('Search')")
    v.axe()
    page.check(f"label:has-text('{tick}')")
    page.click("button:has-text('Report the concern')")
    v.axe()
    assert page.locator("h1").inner_text() == "Concern reported"
    return page.locator("[data-testid=reference]").inner_text()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_teacher_reports_a_concern_and_the_lead_has_it(visit: Any, demo: Demo, javascript: bool) -> None:
    v = visit(javascript=javascript)
    v.sign_in("teacher")
    assert "Grace Lin" in v.page.locator("[data-testid=who]").inner_text()
    assert "Star Primary School" in v.page.locator("[data-testid=who]").inner_text()
    summary = f"Ava was sent unkind messages in a class chat ({'js' if javascript else 'no js'})"
    reference = report(v, summary=summary, search="Ava", tick="Ava Murphy")
    if javascript:
        v.screenshot("teacher-concern-reported")
    held = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    incident = next(i for i in held.json()["items"] if i["reference"] == reference)
    assert incident["summary"] == summary
    assert incident["category"] == "cyberbullying" and incident["location"] == "on_site"
    pupil = demo.pupil("Ava")["id"]
    assert {"person_id": pupil, "role": "affected"} in [
        {"person_id": p["person_id"], "role": p["role"]} for p in incident["people"]
    ]


def test_a_concern_without_a_summary_shows_the_platforms_error_next_to_the_field(
    visit: Any, demo: Demo
) -> None:
    v = visit(javascript=False)
    v.sign_in("teacher")
    before = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    v.goto("/concerns/new")
    v.page.select_option("#category", "malware")
    v.page.check("text=In school")
    v.page.click("button:has-text('Report the concern')")
    v.axe()
    assert v.page.locator(".govuk-error-summary").is_visible()
    assert v.page.locator("#summary-error").is_visible()
    assert v.page.locator("#severity-error").is_visible()
    after = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    assert len(after.json()["items"]) == len(before.json()["items"])


def test_a_double_submit_creates_one_concern(visit: Any, demo: Demo) -> None:
    """The form's Idempotency-Key is made when it is rendered: sending it twice replays the first."""
    v = visit(javascript=False)
    v.sign_in("teacher")
    v.goto("/concerns/new")
    page = v.page
    page.select_option("#category", "malware")
    page.fill("#summary", "A pop-up asked for a password on the library PC (double click)")
    page.check("text=In school")
    page.check("text=Low")
    form = page.locator("form[action='/concerns/new']")
    data = {
        el.get_attribute("name"): el.input_value()
        for el in form.locator("input:not([type=radio]):not([type=checkbox]), select, textarea").all()
        if el.get_attribute("name")
    }
    data.update(location="on_site", severity="low", action="report")
    first = page.request.post("/concerns/new", form=data, max_redirects=0)
    second = page.request.post("/concerns/new", form=data, max_redirects=0)
    assert first.status == second.status == 303
    assert first.headers["location"] == second.headers["location"]
    held = demo.api.get("/v1/incidents", headers=demo.headers("safeguarding_lead"), params={"limit": 500})
    assert sum(1 for i in held.json()["items"] if "(double click)" in i["summary"]) == 1


def test_a_teacher_checks_who_may_appear_in_a_group_photo(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("teacher")
    v.goto("/photos/group")
    v.page.select_option("#year_group", "3")
    v.page.select_option("#purpose", "website")
    v.page.select_option("#media_type", "photo")
    v.page.click("button:has-text('Check')")
    v.axe()
    table = v.page.locator("[data-testid=group-photo]").inner_text()
    api = demo.api.get(
        "/v1/media-consent/year-groups/3/group-photo",
        headers=demo.headers("teacher"),
        params={"purpose": "website", "media_type": "photo"},
    ).json()
    for entry in api["pupils"]:
        assert f"{entry['given_name']} {entry['family_name']}" in table
    v.screenshot("teacher-group-photo")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_teacher_confiscates_a_phone(visit: Any, demo: Demo, javascript: bool) -> None:
    v = visit(javascript=javascript)
    v.sign_in("teacher")
    v.goto("/phones")
    page = v.page
    page.fill("#q", "Zain")
    page.click("button:has-text('Search')")
    v.axe()
    page.check("label:has-text('Zain Ahmed')")
    page.get_by_label("Confiscated", exact=True).check()
    description = f"Grey Android, cracked screen ({javascript})"
    page.fill("#description", description)
    page.fill("#storage_location", "Head's office safe")
    page.fill("#reason", "Used in a lesson after a warning")
    page.click("button:has-text('Register the phone')")
    v.axe()
    assert "registered as held" in page.locator(".govuk-notification-banner").inner_text()
    assert description in page.locator("[data-testid=held]").inner_text()
    if javascript:
        v.screenshot("teacher-phone-confiscated")
    pupil = demo.pupil("Zain")["id"]
    held = demo.api.get(
        "/v1/devices/phone-custody",
        headers=demo.headers("office"),
        params={"pupil_id": pupil, "status": "held"},
    ).json()["items"]
    record = next(r for r in held if r["description"] == description)
    assert record["kind"] == "confiscation" and record["reason"] == "Used in a lesson after a warning"


def test_a_confiscation_without_a_reason_is_refused_next_to_the_field(visit: Any, demo: Demo) -> None:
    v = visit(javascript=False)
    v.sign_in("teacher")
    v.goto("/phones")
    v.page.fill("#q", "Ruby")
    v.page.click("button:has-text('Search')")
    v.page.check("label:has-text('Ruby Evans')")
    v.page.get_by_label("Confiscated", exact=True).check()
    v.page.fill("#description", "No reason given phone")
    v.page.click("button:has-text('Register the phone')")
    v.axe()
    assert v.page.locator(".govuk-error-summary").is_visible()
    pupil = demo.pupil("Ruby")["id"]
    held = demo.api.get(
        "/v1/devices/phone-custody", headers=demo.headers("office"), params={"pupil_id": pupil}
    )
    assert not [r for r in held.json()["items"] if r["description"] == "No reason given phone"]
