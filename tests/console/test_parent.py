"""Journey 6, the parent: each child's consent by purpose and media type, changed or withdrawn at once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def current(demo: Demo, pupil_id: str) -> dict[str, Any]:
    body = demo.api.get(f"/v1/media-consent/pupils/{pupil_id}", headers=demo.headers("office")).json()
    return dict(body["current"] or {})


def level(consent: dict[str, Any], purpose: str, media_type: str) -> str:
    if purpose in consent.get("withdrawn_purposes", []):
        return "none"
    return next(
        (
            g["level"]
            for g in consent.get("grants", [])
            if g["purpose"] == purpose and g["media_type"] == media_type
        ),
        "none",
    )


def test_a_parent_changes_then_withdraws_consent_effective_at_once(visit: Any, demo: Demo) -> None:
    ava = demo.pupil("Ava")["id"]
    v = visit()
    v.sign_in("parent")
    v.goto("/my-children")
    assert "Ava Murphy" in v.page.locator("h2").all_inner_texts()
    v.screenshot("parent-children")
    v.page.click("text=Change or withdraw consent for Ava")
    v.axe()
    v.page.select_option("#level_website_photo", "individual")
    v.page.select_option("#level_newsletter_photo", "group")
    v.page.click("button:has-text('Save consent')")
    v.axe()
    assert "saved" in v.page.locator(".govuk-notification-banner").inner_text()
    held = current(demo, ava)
    assert level(held, "website", "photo") == "individual"
    assert level(held, "newsletter", "photo") == "group"

    v.page.check("#withdraw-website")
    v.page.click("button:has-text('Withdraw consent')")
    v.axe()
    banner = v.page.locator(".govuk-notification-banner").inner_text()
    assert "Consent withdrawn for School website" in banner
    v.screenshot("parent-withdrawn")
    held = current(demo, ava)
    assert "website" in held["withdrawn_purposes"]
    check = demo.api.post(
        "/v1/media-consent/checks",
        headers=demo.headers("teacher"),
        json={"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [ava]},
    ).json()
    assert check["decision"] == "deny"


def test_a_parent_withdraws_every_use_with_javascript_off(visit: Any, demo: Demo) -> None:
    ava = demo.pupil("Ava")["id"]
    v = visit(javascript=False)
    v.sign_in("parent")
    v.goto(f"/my-children/{ava}")
    v.page.select_option("#level_mle_photo", "individual")
    v.page.click("button:has-text('Save consent')")
    assert level(current(demo, ava), "mle", "photo") == "individual"
    v.page.click("button:has-text('Withdraw consent')")
    v.axe()
    assert "Consent withdrawn for every use" in v.page.locator(".govuk-notification-banner").inner_text()
    held = current(demo, ava)
    assert level(held, "mle", "photo") == "none"


def test_a_stale_form_shows_someone_changed_this_and_saves_nothing(visit: Any, demo: Demo) -> None:
    ava = demo.pupil("Ava")["id"]
    v = visit()
    v.sign_in("parent")
    first = v.page
    v.goto(f"/my-children/{ava}")
    second = v.context.new_page()
    second.goto(f"/my-children/{ava}")
    first.select_option("#level_press_photo", "group")
    first.click("button:has-text('Save consent')")
    assert level(current(demo, ava), "press", "photo") == "group"
    second.select_option("#level_press_video", "individual")
    second.click("button:has-text('Save consent')")
    assert second.locator("h1").inner_text() == "Someone changed this while you were editing it"
    assert level(current(demo, ava), "press", "video") == "none"


def test_another_childs_page_is_the_services_own_refusal(visit: Any, demo: Demo) -> None:
    v = visit()
    v.sign_in("parent")
    zain = demo.pupil("Zain")["id"]
    response = v.goto(f"/my-children/{zain}")
    assert response.status in (403, 404)
    api = demo.api.get(f"/v1/media-consent/children/{zain}", headers=demo.headers("parent"))
    assert response.status == api.status_code
