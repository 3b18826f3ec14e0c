"""Journey 3, the office: the morning phone desk, the end-of-day list, returns, a paper consent form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def hand_in(v: Any, name: str, description: str) -> None:
    page = v.page
    v.goto("/phones")
    page.fill("#q", name.split()[0])
    page.click("button:has-text('Search')")
    page.check(f"label:has-text('{name}')")
    page.check("text=Handed in for the day")
    page.fill("#description", description)
    page.click("button:has-text('Register the phone')")
    v.axe()
    assert "registered as held" in page.locator(".govuk-notification-banner").inner_text()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_desk_registers_a_hand_in_and_returns_it_at_the_end_of_the_day(
    visit: Any, demo: Demo, javascript: bool
) -> None:
    v = visit(javascript=javascript)
    v.sign_in("office")
    assert "Tom Ellis" in v.page.locator("[data-testid=who]").inner_text()
    description = f"Blue Samsung, sticker on back ({javascript})"
    hand_in(v, "Theo Hassan", description)
    v.goto("/phones/end-of-day")
    assert description in v.page.locator("[data-testid=handins]").inner_text()
    if javascript:
        v.screenshot("office-end-of-day")
    v.page.click(f"a:has-text('Return'):has-text('{description}')")
    v.axe()
    v.page.check("label:has-text('Theo Hassan (the pupil)')")
    v.page.click("button:has-text('Return the phone')")
    v.axe()
    assert "Phone returned" in v.page.locator(".govuk-notification-banner").inner_text()
    theo = demo.pupil("Theo")["id"]
    records = demo.api.get(
        "/v1/devices/phone-custody", headers=demo.headers("office"), params={"pupil_id": theo}
    ).json()["items"]
    record = next(r for r in records if r["description"] == description)
    assert record["status"] != "held"
    assert record["events"][-1]["to_person_id"] == theo or record["events"][-1].get("person_id") == theo


def test_a_confiscated_phone_is_offered_only_to_carers_with_parental_responsibility(
    visit: Any, demo: Demo
) -> None:
    """Ava's grandparent collects her but has no parental responsibility: not offered."""
    ava = demo.pupil("Ava")["id"]
    created = demo.api.post(
        "/v1/devices/phone-custody",
        headers=demo.headers("office"),
        json={
            "pupil_id": ava,
            "kind": "confiscation",
            "description": "Pink phone (release)",
            "storage_location": "Office safe",
            "reason": "Photos taken in the changing room",
        },
    ).json()
    v = visit()
    v.sign_in("office")
    v.goto(f"/phones/{created['id']}/return")
    offered = v.page.locator("fieldset#to_person_id label").all_inner_texts()
    assert offered == ["Siobhan Murphy (father)"] or offered == ["Siobhan Murphy (mother)"], offered
    v.screenshot("office-release-confiscated")
    v.page.check("label:has-text('Siobhan Murphy')")
    v.page.click("button:has-text('Return the phone')")
    v.axe()
    after = demo.api.get(f"/v1/devices/phone-custody/{created['id']}", headers=demo.headers("office")).json()
    assert after["status"] != "held"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_office_enters_a_paper_consent_form(visit: Any, demo: Demo, javascript: bool) -> None:
    leo = demo.pupil("Leo")["id"]
    v = visit(javascript=javascript)
    v.sign_in("office")
    v.goto("/consent-forms/new")
    v.page.fill("#q", "Leo")
    v.page.click("button:has-text('Search')")
    v.axe()
    v.page.check("label:has-text('Piotr Kowalski')")
    v.page.fill("#form_dated_on", "2026-09-03")
    v.page.select_option("#level_mle_photo", "individual")
    v.page.select_option("#level_website_video", "group")
    if javascript:
        v.screenshot("office-paper-consent-form")
    v.page.click("button:has-text('Save the consent form')")
    v.axe()
    assert "Consent form entered" in v.page.locator(".govuk-notification-banner").inner_text()
    held = demo.api.get(f"/v1/media-consent/pupils/{leo}", headers=demo.headers("office")).json()
    latest = (
        held["versions"][-1]
        if held["versions"][-1]["version"] >= held["versions"][0]["version"]
        else held["versions"][0]
    )
    assert latest["form_dated_on"] == "2026-09-03"
    grants = {(g["purpose"], g["media_type"]): g["level"] for g in held["current"]["grants"]}
    assert grants[("mle", "photo")] == "individual" and grants[("website", "video")] == "group"
