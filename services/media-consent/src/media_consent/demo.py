"""Demo consent records for the demo school, made through the gateway like any client would.

A spread: pupils with full, group-only and MLE-only consent, one whose consent ends within 30
days, one with a partial withdrawal, one given online by a parent, one never-publish pupil,
pupils with no record at all, and a few checks by the MLE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

BASE = "/v1/media-consent"

FULL = [
    {"purpose": p, "media_type": m, "level": "individual"}
    for p in ("mle", "display", "newsletter", "website", "prospectus")
    for m in ("photo", "video")
]
GROUP_ONLY = [
    {"purpose": p, "media_type": m, "level": "group"}
    for p in ("mle", "display", "newsletter", "website")
    for m in ("photo", "video")
]
MLE_ONLY = [
    {"purpose": "mle", "media_type": "photo", "level": "individual"},
    {"purpose": "display", "media_type": "photo", "level": "group"},
]


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()


def seed(gateway: httpx.Client, demo: dict[str, Any]) -> None:
    headers = demo["headers"]
    pupils = demo["pupils"]
    carer_of = {p: c["id"] for c in demo["carers"] if c["parental_responsibility"] for p in c["pupil_ids"]}
    today = datetime.now(UTC).date()
    annual = (today + timedelta(days=300)).isoformat()
    soon = (today + timedelta(days=20)).isoformat()
    form_date = (today - timedelta(days=3)).isoformat()

    def form(pupil: dict[str, Any], grants: list[dict[str, str]], valid_until: str | None = annual) -> None:
        body: dict[str, Any] = {
            "pupil_id": pupil["id"],
            "given_by": carer_of[pupil["id"]],
            "grants": grants,
            "form_dated_on": form_date,
        }
        if valid_until:
            body["valid_until"] = valid_until
        _ok(
            gateway.post(
                f"{BASE}/records",
                json=body,
                headers={**headers["office"], "Idempotency-Key": f"demo-form-{pupil['id']}"},
            )
        )

    # The demo parent's child of these pupils (their Reception son has no record yet): the parent's
    # own view says which it is.
    children = _ok(gateway.get(f"{BASE}/children", headers=headers["parent"]))
    listed = {p["id"] for p in pupils}
    parent_child = next((c["pupil_id"] for c in children if c["pupil_id"] in listed), None)
    plan = {
        0: (FULL, annual),
        1: (GROUP_ONLY, annual),
        2: (MLE_ONLY, annual),
        3: (FULL, soon),
        5: (FULL, annual),
        6: (GROUP_ONLY, soon),
        7: (FULL, annual),
        8: (GROUP_ONLY, annual),
        # 9 and 11: no consent record yet (the office's "missing" list).
        10: (FULL, None),
    }
    for index, (grants, valid_until) in plan.items():
        if pupils[index]["id"] != parent_child:
            form(pupils[index], grants, valid_until)

    # The demo parent gives consent online for their child.
    _ok(
        gateway.post(
            f"{BASE}/children/{parent_child}/records",
            json={"grants": GROUP_ONLY, "valid_until": annual},
            headers=headers["parent"],
        )
    )
    # A withdrawal of social purposes for one pupil (their carer wrote to the office).
    withdrawn = pupils[7]
    _ok(
        gateway.post(
            f"{BASE}/pupils/{withdrawn['id']}/withdrawals",
            json={"given_by": carer_of[withdrawn["id"]], "purposes": ["website", "prospectus"]},
            headers=headers["office"],
        )
    )
    # A pupil whose image must never be published (the reason is kept in the safeguarding record).
    _ok(gateway.put(f"{BASE}/pupils/{pupils[5]['id']}/never-publish", headers=headers["safeguarding_lead"]))
    # A few checks by the MLE, as it would make before publishing.
    for ids, purpose, framing in (
        ([pupils[0]["id"]], "website", "individual"),
        ([pupils[4]["id"], pupils[5]["id"]], "mle", "group"),
        ([p["id"] for p in pupils if p["year_group"] == "4"], "newsletter", "group"),
    ):
        _ok(
            gateway.post(
                f"{BASE}/checks",
                json={"purpose": purpose, "media_type": "photo", "framing": framing, "pupil_ids": ids},
                headers=headers["mle"],
            )
        )
