"""Journey 6, the parent: sign the pupils' acceptable-use agreement for a child in KS1.

The demo parent, Siobhan Murphy, has Ava in Year 3 and Finn in Reception: at KS1 the parent signs
on the child's behalf (the policy), so Finn's page offers the agreement and Ava's does not.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes

AGREEMENTS = "/v1/identity/agreements"


def pupils_version(demo: Demo) -> dict[str, Any]:
    """The current pupils' agreement, as the office reads it (agreements:read)."""
    listed = demo.api.get(AGREEMENTS, params={"audience": "pupil"}, headers=demo.headers("office"))
    assert listed.status_code == 200, listed.text
    return dict(listed.json()["items"][-1])


def signatures_of(demo: Demo, pupil_id: str) -> list[dict[str, Any]]:
    version = pupils_version(demo)
    held = demo.api.get(
        f"{AGREEMENTS}/{version['id']}/signatures", params={"limit": 200}, headers=demo.headers("office")
    )
    assert held.status_code == 200, held.text
    return [s for s in held.json()["items"] if s["person_id"] == pupil_id]


def form_data(v: Any, selector: str) -> dict[str, str]:
    form = v.page.locator(selector)
    return {
        str(el.get_attribute("name")): el.input_value()
        for el in form.locator("input[type=hidden]").all()
        if el.get_attribute("name")
    }


def test_a_parent_signs_the_agreement_for_their_reception_child_once(visit: Any, demo: Demo) -> None:
    finn = demo.pupil("Finn")["id"]
    parent = demo.ids["carers"][4]["id"]
    assert signatures_of(demo, finn) == []
    v = visit()
    v.sign_in("parent")
    v.goto(f"/my-children/{finn}")
    assert "Not signed yet" in v.page.locator("[data-testid=agreement-status]").inner_text()
    v.page.click("text=Read and sign the acceptable-use agreement for Finn")
    v.axe()
    version = pupils_version(demo)
    assert v.page.locator("h1").inner_text() == version["title"]
    assert "I ask a grown-up" in v.page.locator("[data-testid=agreement-text]").inner_text()
    assert f"{version['number']}, published" in v.page.locator("[data-testid=agreement-summary]").inner_text()
    v.screenshot("parent-agreement")
    sent = form_data(v, f"form[action='/my-children/{finn}/agreement']")
    v.page.click("button:has-text('Sign the agreement for Finn')")
    v.axe()
    assert v.page.url.endswith(f"/my-children/{finn}")
    assert (
        "You signed the acceptable-use agreement" in v.page.locator(".govuk-notification-banner").inner_text()
    )
    held = signatures_of(demo, finn)
    assert [(s["signed_by_person_id"], s["version_id"]) for s in held] == [(parent, version["id"])]
    status = v.page.locator("[data-testid=agreement-status]").inner_text()
    assert "Signed" in status and held[0]["signed_at"][:16].replace("T", " ") in status and "by you" in status

    # The same form sent again (a double click, a resend): identity replays the first signature.
    again = v.page.request.post(f"/my-children/{finn}/agreement", form=sent, max_redirects=0)
    assert again.status == 303
    assert signatures_of(demo, finn) == held
    # Signed: the agreement's page shows when, and offers no form.
    v.goto(f"/my-children/{finn}/agreement")
    assert "by you" in v.page.locator("[data-testid=agreement-status]").inner_text()
    assert v.page.locator("button:has-text('Sign the agreement')").count() == 0


def test_the_agreement_is_signed_with_javascript_off(visit: Any, demo: Demo) -> None:
    # A second Reception child of the demo parent (the office adds her, as a new starter).
    office = demo.headers("office")
    created = demo.api.post(
        "/v1/identity/people",
        headers=office,
        json={
            "school_id": demo.ids["school_id"],
            "kind": "pupil",
            "given_name": "Isla",
            "family_name": "Murphy",
            "year_group": "R",
        },
    )
    assert created.status_code == 201, created.text
    isla = created.json()["id"]
    linked = demo.api.post(
        f"/v1/identity/people/{isla}/carers",
        headers=office,
        json={
            "carer_id": demo.ids["carers"][4]["id"],
            "relationship": "mother",
            "parental_responsibility": True,
        },
    )
    assert linked.status_code in (200, 201), linked.text
    v = visit(javascript=False)
    v.sign_in("parent")
    v.goto(f"/my-children/{isla}")
    v.page.click("text=Read and sign the acceptable-use agreement for Isla")
    v.axe()
    v.page.click("button:has-text('Sign the agreement for Isla')")
    v.axe()
    assert v.page.url.endswith(f"/my-children/{isla}")
    assert (
        "You signed the acceptable-use agreement" in v.page.locator(".govuk-notification-banner").inner_text()
    )
    held = signatures_of(demo, isla)
    assert [(s["signed_by_person_id"], s["version_id"]) for s in held] == [
        (demo.ids["carers"][4]["id"], pupils_version(demo)["id"])
    ]


def test_a_year_3_childs_page_does_not_offer_it_and_identity_refuses_it(visit: Any, demo: Demo) -> None:
    ava = demo.pupil("Ava")["id"]
    v = visit()
    v.sign_in("parent")
    v.goto(f"/my-children/{ava}")
    assert v.page.locator("#agreement").count() == 0
    response = v.goto(f"/my-children/{ava}/agreement")
    api = demo.api.get(f"{AGREEMENTS}/current", params={"person_id": ava}, headers=demo.headers("parent"))
    assert response.status == api.status_code == 403
    assert api.json()["detail"] in v.page.locator("[data-testid=problem-detail]").inner_text()


def test_signing_for_someone_elses_child_is_identitys_refusal_and_stores_nothing(
    visit: Any, demo: Demo
) -> None:
    """The sign form, posted with a valid CSRF token for a Reception child of another family."""
    oliver = demo.pupil("Oliver")["id"]
    assert demo.pupil("Oliver")["year_group"] == "R"
    version = pupils_version(demo)
    v = visit()
    v.sign_in("parent")
    v.goto("/my-children")
    csrf = v.page.locator("input[name=csrf_token]").first.input_value()
    refused = v.page.request.post(
        f"/my-children/{oliver}/agreement",
        form={"csrf_token": csrf, "idempotency_key": "attack-oliver", "version_id": version["id"]},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "only for their own child" in refused.text()
    assert signatures_of(demo, oliver) == []
    # Its page is refused too (media-consent's own: not this parent's child).
    response = v.goto(f"/my-children/{oliver}/agreement")
    api = demo.api.get(f"/v1/media-consent/children/{oliver}", headers=demo.headers("parent"))
    assert response.status == api.status_code and response.status in (403, 404)
