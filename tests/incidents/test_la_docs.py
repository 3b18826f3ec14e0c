"""docs/la-reporting.md: its Python example runs, unchanged, against the real platform.

The example follows the export feed as the LA's OAuth client (from LA_BASE_URL, LA_CLIENT_ID and
LA_CLIENT_SECRET, as the guide's shell block sets them) and counts the incidents of every school of
its LA, each once however often it changed.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.platform import RunningPlatform, SchoolKit

pytestmark = pytest.mark.processes

DOC = Path(__file__).resolve().parents[2] / "docs" / "la-reporting.md"


def unused_la_code(platform: RunningPlatform) -> str:
    """A three-digit LA code no school of this session's platform has an incident in yet."""
    rng = random.SystemRandom()
    for code in rng.sample(range(600, 1000), 50):
        export = platform.gateway.get(
            "/v1/incidents/export", headers=platform.la_headers(str(code), ["incidents:export"])
        )
        assert export.status_code == 200, export.text
        if not export.json()["items"]:
            return str(code)
    raise AssertionError("every LA code tried already has incidents")


def report(platform: RunningPlatform, school: SchoolKit, pupil: dict[str, Any], category: str) -> dict:
    body = {
        "category": category,
        "severity": "medium",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "location": "off_site",
        "summary": f"{category}, reported by a parent",
        "people": [{"person_id": pupil["id"], "role": "affected"}],
    }
    response = platform.gateway.post("/v1/incidents", json=body, headers=school.headers("teacher"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_python_example_runs_against_the_platform(platform: RunningPlatform, tmp_path: Path) -> None:
    [script] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    la_code = unused_la_code(platform)
    other_la = next(str(n) for n in range(600, 1000) if str(n) != la_code)
    school, sibling = platform.new_school(la_code=la_code), platform.new_school(la_code=la_code)
    elsewhere = platform.new_school(la_code=other_la)
    pupils = {kit.id: kit.pupil(year_group="4") for kit in (school, sibling, elsewhere)}
    for kit in (school, sibling, elsewhere):
        kit.staff_person("teacher")
        kit.staff_person("head_teacher")
    school.sync()

    changed = report(platform, school, pupils[school.id], "cyberbullying")
    report(platform, school, pupils[school.id], "misuse_of_ict")
    report(platform, sibling, pupils[sibling.id], "inappropriate_content")
    report(platform, elsewhere, pupils[elsewhere.id], "cyberbullying")  # another LA's: not counted
    url = f"/v1/incidents/{changed['id']}"
    head = school.headers("head_teacher")
    etag = platform.gateway.get(url, headers=head).headers["ETag"]
    closed = platform.gateway.patch(url, json={"status": "closed"}, headers={**head, "If-Match": etag})
    assert closed.status_code == 200, closed.text

    client = platform.gateway.post(
        "/v1/identity/clients",
        json={
            "name": "LA reporting scripts",
            "la_code": la_code,
            "scopes": ["incidents:export", "incidents:stats"],
        },
        headers=platform.admin_headers,
    )
    assert client.status_code == 201, client.text
    path = tmp_path / "la_example.py"
    path.write_text(script)
    env = {
        **os.environ,
        "LA_BASE_URL": str(platform.gateway.base_url).rstrip("/"),
        "LA_CLIENT_ID": client.json()["client_id"],
        "LA_CLIENT_SECRET": client.json()["client_secret"],
    }
    run = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == ["3 incidents"]
