"""Journey 3, the office: upload the roll from the MIS, see the dry run's report, then apply it."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.demo import upn
from tests.console.conftest import Demo

pytestmark = pytest.mark.processes

HEADER = "external_ref,kind,given_name,family_name,year_group,date_of_birth,carer_of,relationship,parental_responsibility"
NEW_PUPIL = upn(40)
BAD_PUPIL = upn(41)


def person_by_ref(demo: Demo, ref: str) -> list[dict[str, Any]]:
    found = demo.api.get("/v1/identity/people", params={"external_ref": ref}, headers=demo.headers("office"))
    assert found.status_code == 200, found.text
    return list(found.json()["items"])


def imports_audited(demo: Demo) -> int:
    entries = demo.api.get(
        "/v1/identity/audit",
        params={"action": "people.imported", "limit": 200},
        headers=demo.headers("head_teacher"),
    )
    assert entries.status_code == 200, entries.text
    return len(entries.json()["items"])


def roll(demo: Demo) -> bytes:
    theo, ruby = demo.pupil("Theo"), demo.pupil("Ruby")
    lines = [
        HEADER,
        f"{NEW_PUPIL},pupil,Poppy,Walsh,2,2019-05-02,,,",
        f"P-9001,parent,Dan,Walsh,,,{NEW_PUPIL},father,true",
        f"{theo['external_ref']},pupil,Theo,Hassan,5,,,,",
        f"{ruby['external_ref']},pupil,Ruby,Evans,6,2014-11-20,,,",
        f"{BAD_PUPIL},pupil,Jack,Frost,9,,,,",
    ]
    return ("\n".join(lines) + "\n").encode()


def upload(v: Any, content: bytes, *, name: str = "roll.csv", mark_absent: bool = False) -> None:
    v.goto("/roll-import")
    v.page.set_input_files("#roll", files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    if mark_absent:
        v.page.check("#mark_absent_as_left")
    v.page.click("button:has-text('Check the file')")
    v.axe()


def counts(v: Any) -> dict[str, str]:
    rows = v.page.locator("[data-testid=roll-counts] .govuk-summary-list__row").all()
    return {r.locator("dt").inner_text().strip(): r.locator("dd").inner_text().strip() for r in rows}


def test_the_office_checks_the_roll_then_applies_it_once(visit: Any, demo: Demo) -> None:
    ruby = demo.pupil("Ruby")
    audited = imports_audited(demo)
    v = visit()
    v.sign_in("office")
    assert v.page.locator("a.govuk-header__link:has-text('Upload the roll')").count() == 1
    upload(v, roll(demo), name="sims-export.csv")
    assert "Nothing has changed yet" in v.page.locator(".govuk-warning-text").inner_text()
    assert counts(v) == {
        "New people": "2",
        "Changed": "1",
        "No change": "1",
        "Refused rows": "1",
        "Marked as left": "None (people not in the file are left as they are)",
    }, counts(v)
    rows = v.page.locator("[data-testid=roll-rows] tbody tr").all_inner_texts()
    assert len(rows) == 5
    assert "Refused" in rows[4] and BAD_PUPIL in rows[4] and "year_group" in rows[4]
    assert "New" in rows[0] and NEW_PUPIL in rows[0] and "Poppy Walsh" in rows[0]
    v.screenshot("office-roll-dry-run")
    # The dry run changed nothing.
    assert person_by_ref(demo, NEW_PUPIL) == []
    assert person_by_ref(demo, ruby["external_ref"])[0].get("date_of_birth") in (None, "")
    assert imports_audited(demo) == audited

    sent = {
        str(el.get_attribute("name")): el.input_value()
        for el in v.page.locator("form[action='/roll-import/apply'] input[type=hidden]").all()
    }
    v.page.click("button:has-text('Apply the roll')")
    v.axe()
    assert v.page.locator("h1").inner_text() == "Roll applied"
    banner = v.page.locator(".govuk-notification-banner").inner_text()
    assert "Roll applied: 2 new, 1 changed, 1 unchanged, 1 refused, 0 left" in banner
    assert v.page.locator("button:has-text('Apply the roll')").count() == 0
    # A second Apply of the same upload (a double click): identity replays the first import.
    again = v.page.request.post("/roll-import/apply", form=sent, max_redirects=0)
    assert again.status == 303
    assert imports_audited(demo) == audited + 1

    poppy = person_by_ref(demo, NEW_PUPIL)
    assert [(p["given_name"], p["year_group"]) for p in poppy] == [("Poppy", "2")]
    carers = demo.api.get(
        f"/v1/identity/people/{poppy[0]['id']}/carers", headers=demo.headers("office")
    ).json()["items"]
    assert [(c["relationship"], c["parental_responsibility"]) for c in carers] == [("father", True)]
    assert person_by_ref(demo, ruby["external_ref"])[0]["date_of_birth"] == "2014-11-20"
    assert person_by_ref(demo, BAD_PUPIL) == []


def test_the_roll_is_checked_and_applied_with_javascript_off(visit: Any, demo: Demo) -> None:
    starter = upn(42)
    content = (f"{HEADER}\n{starter},pupil,Alfie,Moss,1,2020-01-15,,,\n").encode()
    v = visit(javascript=False)
    v.sign_in("office")
    upload(v, content)
    assert "Nothing has changed yet" in v.page.locator(".govuk-warning-text").inner_text()
    assert counts(v)["New people"] == "1"
    assert person_by_ref(demo, starter) == []
    v.page.click("button:has-text('Apply the roll')")
    v.axe()
    assert v.page.locator("h1").inner_text() == "Roll applied"
    assert "Roll applied: 1 new" in v.page.locator(".govuk-notification-banner").inner_text()
    assert [(p["given_name"], p["year_group"]) for p in person_by_ref(demo, starter)] == [("Alfie", "1")]


def test_a_file_identity_cannot_read_is_shown_next_to_the_field_and_changes_nothing(
    visit: Any, demo: Demo
) -> None:
    audited = imports_audited(demo)
    v = visit()
    v.sign_in("office")
    upload(v, b"upn,first_name,surname\nB1,Ada,Lovelace\n")
    assert v.page.locator(".govuk-error-summary").is_visible()
    message = v.page.locator("#roll-error").inner_text()
    assert "Missing: external_ref, kind, given_name, family_name" in message
    assert imports_audited(demo) == audited


def test_a_file_larger_than_the_platform_takes_is_shown_next_to_the_field(visit: Any, demo: Demo) -> None:
    # Over the import's 1 MiB cap (and the gateway's default for other routes), under the form's own.
    starter = upn(43)
    line = f"{starter},pupil,Ivy,Long,3,,,,\n"
    content = (HEADER + "\n" + line * (2 * 1024 * 1024 // len(line))).encode()
    audited = imports_audited(demo)
    v = visit()
    v.sign_in("office")
    upload(v, content)
    assert v.page.locator("h1").inner_text() == "Upload the roll from the MIS"
    error = v.page.locator("#roll-error").inner_text()
    assert "The file is 2 MB: the platform takes a roll file of up to 1 MB" in error, error
    assert "The file is 2 MB" in v.page.locator(".govuk-error-summary").inner_text()
    assert person_by_ref(demo, starter) == []
    assert imports_audited(demo) == audited


def test_a_dry_run_marking_leavers_lists_them_and_nobody_leaves(visit: Any, demo: Demo) -> None:
    """The whole roll but one pupil, with "mark as left": the report names the leaver; no Apply."""
    zain = demo.pupil("Zain")
    v = visit()
    v.sign_in("office")
    everyone_but_zain = [p for p in demo.ids["pupils"] if p["given_name"] != "Zain"]
    lines = [HEADER] + [
        f"{p['external_ref']},pupil,{p['given_name']},{p['family_name']},{p['year_group']},,,,"
        for p in everyone_but_zain
    ]
    upload(v, ("\n".join(lines) + "\n").encode(), mark_absent=True)
    leavers = v.page.locator("[data-testid=roll-leavers]").inner_text()
    assert "Zain Ahmed" in leavers and zain["external_ref"] in leavers
    assert person_by_ref(demo, zain["external_ref"])[0]["is_on_roll"] is True


def test_a_teacher_is_not_offered_the_roll_and_identity_refuses_their_upload(visit: Any, demo: Demo) -> None:
    audited = imports_audited(demo)
    v = visit()
    v.sign_in("teacher")
    assert v.page.locator("a:has-text('Upload the roll')").count() == 0
    response = v.goto("/roll-import")
    assert response.status == 403
    csrf = v.page.locator("input[name=csrf_token]").first.input_value()
    refused = v.page.request.post(
        "/roll-import",
        multipart={
            "csrf_token": csrf,
            "roll": {"name": "roll.csv", "mimeType": "text/csv", "buffer": roll(demo)},
        },
        max_redirects=0,
    )
    assert refused.status == 403
    assert "people:import" in refused.text()
    assert person_by_ref(demo, BAD_PUPIL) == [] and imports_audited(demo) == audited
