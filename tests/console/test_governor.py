"""Journey 5, the governor: the monitoring report, counts only, as a chart and a table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def test_the_governor_sees_counts_only_and_the_same_counts_as_the_api(visit: Any, demo: Demo) -> None:
    for n in range(8):  # enough for counts that are not withheld as small
        created = demo.api.post(
            "/v1/incidents",
            headers=demo.headers("teacher"),
            json={
                "category": "misuse_of_ict",
                "severity": "low",
                "occurred_at": f"2026-09-{10 + n:02d}T09:00:00Z",
                "summary": f"Game played in a lesson ({n})",
                "location": "on_site",
                "people": [],
            },
        )
        assert created.status_code == 201, created.text
    v = visit()
    v.sign_in("governor")
    assert v.page.locator("#navigation a").all_inner_texts() == ["Monitoring report"]
    v.goto("/monitoring")
    api = demo.api.get(
        "/v1/incidents/stats",
        headers=demo.headers("governor"),
        params=[("group_by", "category"), ("group_by", "month")],
    ).json()
    assert f"Incidents in the period: {api['total']}" in v.page.locator("[data-testid=total]").inner_text()
    text = v.page.locator("main").inner_text()
    for row in api["items"]:
        assert str(row["count"]) in text
    for pupil in demo.ids["pupils"]:
        assert pupil["family_name"] not in text
    shown = [r for r in api["items"] if r["category"] == "misuse_of_ict"]
    assert shown, api
    chart = v.page.locator("svg[role=img] desc").text_content() or ""
    assert f"Misuse of school ICT: {sum(r['count'] for r in shown)}" in chart
    assert v.page.locator("[data-testid=stats]").is_visible()
    v.screenshot("governor-monitoring")
    assert v.goto("/concerns").status == 403
