"""Demo incidents for Star Primary School, created through the gateway like any client would.

A believable term's log: reports by different staff, across the policy's content, contact and
conduct risks and the technical ones, with actions, evidence, a police referral (so a legal hold),
and the cases that only the leads or only the head may see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def seed(gateway: httpx.Client, demo: dict[str, Any]) -> None:
    headers = demo["headers"]
    pupils = demo["pupils"]
    staff = demo["staff"]

    def pupil(i: int) -> str:
        return str(pupils[i % len(pupils)]["id"])

    def report(
        role: str,
        category: str,
        severity: str,
        days: float,
        location: str,
        summary: str,
        people: list[tuple[str, str]],
    ) -> dict[str, Any]:
        body = {
            "category": category,
            "severity": severity,
            "occurred_at": _ago(days),
            "location": location,
            "summary": summary,
            "people": [{"person_id": pid, "role": r} for pid, r in people],
        }
        return dict(_ok(gateway.post("/v1/incidents", json=body, headers=headers[role])))

    def act(incident: dict[str, Any], days: float, **body: Any) -> None:
        _ok(
            gateway.post(
                f"/v1/incidents/{incident['id']}/actions",
                json={"occurred_at": _ago(days), **body},
                headers=headers["safeguarding_lead"],
            )
        )

    def change(incident: dict[str, Any], role: str, **fields: Any) -> None:
        current = gateway.get(f"/v1/incidents/{incident['id']}", headers=headers[role])
        _ok(current)
        _ok(
            gateway.patch(
                f"/v1/incidents/{incident['id']}",
                json=fields,
                headers={**headers[role], "If-Match": current.headers["ETag"]},
            )
        )

    bullying = report(
        "teacher",
        "cyberbullying",
        "medium",
        30,
        "off_site",
        "Unkind messages about a pupil in a class group chat over the weekend, shown by a parent.",
        [(pupil(0), "affected"), (pupil(1), "subject"), (pupil(2), "witness")],
    )
    act(bullying, 29, kind="note", note="Spoke to both pupils; messages deleted by the sender.")
    act(bullying, 29, kind="sanction", sanction="interview", person_id=pupil(1))
    act(bullying, 28, kind="parents_informed", person_id=pupil(1))
    act(
        bullying,
        28,
        kind="referral_decision",
        referred_to="childrens_social_care",
        decision="not_refer",
        rationale="Handled under the anti-bullying policy; no risk of significant harm.",
    )
    change(bullying, "safeguarding_lead", status="closed")

    content = report(
        "teacher",
        "inappropriate_content",
        "low",
        21,
        "on_site",
        "Pupil found a violent video through an image search during a lesson.",
        [(pupil(3), "affected")],
    )
    act(content, 21, kind="note", note="Pupil reassured; search term passed to the computing lead.")
    change(content, "safeguarding_lead", status="action_taken")

    filtering = report(
        "computing_lead",
        "filtering_failure",
        "medium",
        20,
        "on_site",
        "The filter let through an unblocked proxy site; reported to the LGfL helpdesk.",
        [],
    )
    _ok(
        gateway.post(
            f"/v1/incidents/{filtering['id']}/evidence",
            headers=headers["safeguarding_lead"],
            json={
                "kind": "log",
                "description": "Proxy log extract for the morning of the incident",
                "stored_at": "Computing lead's encrypted share, /incidents/filtering",
                "held_by": "Computing lead",
                "sha256": "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
            },
        )
    )

    misuse = report(
        "teacher",
        "misuse_of_ict",
        "low",
        14,
        "on_site",
        "Pupil used another pupil's login to change their work.",
        [(pupil(4), "subject"), (pupil(5), "affected")],
    )
    act(
        misuse,
        13,
        kind="sanction",
        sanction="access_removed",
        person_id=pupil(4),
        access_removed_until=(datetime.now(UTC) - timedelta(days=6)).date().isoformat(),
    )

    grooming = report(
        "teacher",
        "grooming",
        "critical",
        10,
        "off_site",
        "Pupil disclosed an adult online asked them to keep their chats secret and to meet.",
        [(pupil(6), "affected")],
    )
    act(
        grooming,
        10,
        kind="referral_decision",
        referred_to="police",
        decision="refer",
        rationale="Possible grooming by an adult: referred the same day.",
    )
    act(grooming, 10, kind="police_referral", police_reference="CAD-2231-DEMO")
    act(grooming, 10, kind="parents_informed", person_id=pupil(6))
    act(grooming, 9, kind="la_informed")
    change(grooming, "safeguarding_lead", status="referred")

    sexting = report(
        "office",
        "sexting",
        "high",
        6,
        "off_site",
        "Report that an image was shared between pupils' phones.",
        [(pupil(7), "affected")],
    )
    _ok(
        gateway.post(
            f"/v1/incidents/{sexting['id']}/evidence",
            headers=headers["safeguarding_lead"],
            json={
                "kind": "device",
                "description": "Pupil's phone, switched off, not viewed",
                "stored_at": "Head teacher's safe",
                "held_by": "Head teacher",
                "device_secured": True,
            },
        )
    )

    report(
        "teacher",
        "stranger_contact",
        "medium",
        4,
        "off_site",
        "Pupil received friend requests from an unknown adult in a game.",
        [(pupil(8), "affected")],
    )
    report(
        "computing_lead",
        "malware",
        "low",
        3,
        "on_site",
        "Ransomware warning on a staff laptop; isolated and reimaged.",
        [],
    )
    report(
        "teacher",
        "copyright",
        "low",
        2,
        "on_site",
        "Homework copied from a website without credit.",
        [(pupil(9), "subject")],
    )
    report(
        "office",
        "allegation_against_staff",
        "high",
        1,
        "on_site",
        "A parent says a member of staff messaged their child on social media.",
        [(str(staff["teacher"]), "subject"), (pupil(10), "affected")],
    )
