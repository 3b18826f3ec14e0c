"""docs/mle-integration.md: its Python examples run, unchanged and in order, against the real platform.

The guide's blocks make one script (the token block defines `gw` and `auth`, the check block
`answer`, which the receipt block verifies). Its reader supplies MLE_ID and MLE_SECRET and runs it
beside the demo's var/demo.json against the demo's gateway: here a prologue takes the client from
the environment, the demo's gateway address becomes the test platform's, and the script runs in a
directory holding a var/demo.json of this test's school.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.platform import RunningPlatform, SchoolKit

pytestmark = pytest.mark.processes

DOC = Path(__file__).resolve().parents[2] / "docs" / "mle-integration.md"
DEMO_GATEWAY = "http://127.0.0.1:8000"
PROLOGUE = 'import os\n\nMLE_ID, MLE_SECRET = os.environ["MLE_ID"], os.environ["MLE_SECRET"]\n\n'
BASE = "/v1/media-consent"


def consent(
    platform: RunningPlatform, school: SchoolKit, pupil: dict[str, Any], level: str
) -> dict[str, Any]:
    """A carer's paper form, recorded by the office: `level` for newsletter photos."""
    carer = school.carer(pupil)
    school.sync()
    response = platform.gateway.post(
        f"{BASE}/records",
        json={
            "pupil_id": pupil["id"],
            "given_by": carer["id"],
            "grants": [{"purpose": "newsletter", "media_type": "photo", "level": level}],
            "form_dated_on": "2026-09-01",
        },
        headers=school.headers("office"),
    )
    assert response.status_code == 201, response.text
    return carer


def test_the_python_examples_run_against_the_platform(platform: RunningPlatform, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 4, "token, check, feed and receipt blocks"
    script = "\n".join(blocks)
    assert script.count(DEMO_GATEWAY) == 1, "the token block's gateway address"
    gateway = str(platform.gateway.base_url).rstrip("/")

    school = platform.new_school()
    year4 = [school.pupil(year_group="4") for _ in range(3)]
    year3 = school.pupil(year_group="3")  # no form: denied if asked about, but the script asks about year 4
    allowed_group, allowed_individual, refusing = year4
    consent(platform, school, allowed_group, "group")
    consent(platform, school, allowed_individual, "individual")
    refusing_carer = consent(platform, school, refusing, "individual")
    withdrawal = platform.gateway.post(
        f"{BASE}/pupils/{refusing['id']}/withdrawals",
        json={"given_by": refusing_carer["id"]},
        headers=school.headers("office"),
    )
    assert withdrawal.status_code == 201, withdrawal.text
    client = platform.gateway.post(
        "/v1/identity/clients",
        json={"name": "Learning platform (MLE)", "school_id": school.id, "scopes": ["consent:check"]},
        headers=platform.admin_headers,
    )
    assert client.status_code == 201, client.text

    # var/demo.json as scripts/demo.py writes it (the fields the guide reads: pupils' id and year group).
    fields = ("id", "given_name", "family_name", "year_group", "external_ref")
    demo = {"school_id": school.id, "pupils": [{k: p[k] for k in fields} for p in [*year4, year3]]}
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo.json").write_text(json.dumps(demo))
    path = tmp_path / "mle_example.py"
    path.write_text(PROLOGUE + script.replace(DEMO_GATEWAY, gateway))
    env = {**os.environ, "MLE_ID": client.json()["client_id"], "MLE_SECRET": client.json()["client_secret"]}
    run = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()

    # The check: only the pupil whose consent was withdrawn is printed, with the reason.
    denied = [line for line in lines if line.startswith(tuple(p["id"] for p in [*year4, year3]))]
    assert denied == [f"{refusing['id']} withdrawn"]
    # The feed: every change of the school's consent, in order.
    feed = [line.split() for line in lines if line.split()[0].isdigit()]
    assert [(kind, pupil) for _, kind, pupil in feed] == [
        ("recorded", allowed_group["id"]),
        ("recorded", allowed_individual["id"]),
        ("recorded", refusing["id"]),
        ("withdrawn", refusing["id"]),
    ]
    assert [int(seq) for seq, _, _ in feed] == sorted(int(seq) for seq, _, _ in feed)
    # The receipt: verified with the published keys, it says what was decided about whom.
    [receipt] = [line for line in lines if line.startswith(("allow ", "deny "))]
    assert receipt.startswith(f"deny {[p['id'] for p in year4]!r} ")
