"""Journey 5, the governor: the monitoring report, counts only, as a chart and a table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Demo

pytestmark = pytest.mark.processes


def test_the_governor_sees_counts_only_and_the_same_counts_as_the_api(visit: Any, demo: Demo) -> None:
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
    v.screenshot("governor-monitoring")
    assert v.goto("/concerns").status == 403
