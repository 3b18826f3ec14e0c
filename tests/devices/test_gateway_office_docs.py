"""docs/office-integration.md: its Python example runs, unchanged, against the real platform."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devices.test_gateway_phones import upn
from tests.platform import RunningPlatform

pytestmark = pytest.mark.processes

DOC = Path(__file__).resolve().parents[2] / "docs" / "office-integration.md"


def test_the_python_example_runs_against_the_platform(platform: RunningPlatform, tmp_path: Path) -> None:
    [script] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    school = platform.new_school()
    reference = upn()
    pupil = school.pupil(year_group="6", external_ref=reference)
    school.carer(pupil, parental_responsibility=False, relationship="grandparent")
    school.carer(pupil, parental_responsibility=True)
    client = platform.gateway.post(
        "/v1/identity/clients",
        json={
            "name": "Office system",
            "school_id": school.id,
            "scopes": ["phones:read", "phones:write", "people:read"],
        },
        headers=platform.admin_headers,
    )
    assert client.status_code == 201, client.text
    school.sync()
    path = tmp_path / "office_example.py"
    path.write_text(script)
    env = {
        **os.environ,
        "GATEWAY": str(platform.gateway.base_url).rstrip("/"),
        "OFFICE_CLIENT_ID": client.json()["client_id"],
        "OFFICE_CLIENT_SECRET": client.json()["client_secret"],
        "PUPIL_UPN": reference,
    }
    run = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "hand-in: returned ['received', 'returned']" in run.stdout
    assert "to the pupil: 422" in run.stdout
    assert "confiscation: released ['received', 'released']" in run.stdout
