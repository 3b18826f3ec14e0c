"""Demo records for "Star Primary School", created through the gateway like any client would.

Called by the launcher (`python3 manage.py run`, first start) once the service is up and its people
replica has synced: a small hardware inventory with loans, scans, a repair and a WEEE disposal; the
staff device register with the head's image permission and a recorded use of it; and a morning of
pupil phones, handed in by the office system and confiscated by a teacher, one of them searched and
one released.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ASSETS = [
    # tag, kind, make, model, serial, location, holds personal data, encrypted
    ("STAR-0001", "desktop", "Dell", "OptiPlex 7010", "8HQ2KX3", "School office", True, True),
    ("STAR-0002", "server", "HPE", "ProLiant ML30 Gen11", "CZJ3410ABC", "Comms cupboard", True, True),
    ("STAR-0010", "laptop", "Dell", "Latitude 3540", "5TR8PL2", "Staff room laptop trolley", True, True),
    ("STAR-0011", "laptop", "Dell", "Latitude 3540", "5TR8PL3", "Staff room laptop trolley", True, True),
    ("STAR-0012", "laptop", "Lenovo", "ThinkPad L13", "PF3XK2L9", "Head's office", True, True),
    (
        "STAR-0020",
        "tablet",
        "Apple",
        "iPad (10th generation)",
        "DMPXK8Q1JF8J",
        "Year 2 classroom",
        False,
        False,
    ),
    (
        "STAR-0021",
        "tablet",
        "Apple",
        "iPad (10th generation)",
        "DMPXK8Q1JF8K",
        "Year 4 classroom",
        False,
        False,
    ),
    ("STAR-0030", "camera", "Canon", "PowerShot SX740", "432051002771", "School office", True, False),
    (
        "STAR-0040",
        "interactive_display",
        "Promethean",
        "ActivPanel 9 65in",
        "AP9-65-118273",
        "Hall",
        False,
        False,
    ),
    ("STAR-0099", "laptop", "Toshiba", "Satellite Pro R50", "2G114578H", "ICT store", True, False),
]


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json() if response.content else None


def seed(gateway: httpx.Client, demo: dict[str, Any]) -> None:
    headers = demo["headers"]
    staff = demo["staff"]
    lead = headers["computing_lead"]
    today = datetime.now(UTC).date()

    # The hardware inventory.
    assets: dict[str, dict[str, Any]] = {}
    for tag, kind, make, model, serial, location, personal, encrypted in ASSETS:
        body = {
            "asset_tag": tag,
            "kind": kind,
            "make": make,
            "model": model,
            "serial_number": serial,
            "location": location,
            "holds_personal_data": personal,
            "is_encrypted": encrypted,
            "purchased_on": "2023-08-21" if tag != "STAR-0099" else "2015-07-30",
        }
        assets[tag] = _ok(gateway.post("/v1/devices/assets", json=body, headers=lead))
    now = datetime.now(UTC).replace(microsecond=0)
    for tag in ("STAR-0001", "STAR-0002", "STAR-0010", "STAR-0011", "STAR-0012"):
        scan = {"scanned_at": now.isoformat(), "tool": "Sophos Intercept X", "result": "clean"}
        _ok(gateway.post(f"/v1/devices/assets/{assets[tag]['id']}/scans", json=scan, headers=lead))
    for tag, teacher, days in (("STAR-0010", staff["teacher"], 14), ("STAR-0012", staff["head_teacher"], 5)):
        loan = {
            "borrower_id": teacher,
            "due_on": (today + timedelta(days=days)).isoformat(),
            "purpose": "Planning and marking at home",
        }
        _ok(gateway.post(f"/v1/devices/assets/{assets[tag]['id']}/loans", json=loan, headers=lead))
    repair = assets["STAR-0021"]
    etag = gateway.get(f"/v1/devices/assets/{repair['id']}", headers=lead).headers["ETag"]
    _ok(
        gateway.patch(
            f"/v1/devices/assets/{repair['id']}",
            json={"status": "in_repair", "notes": "Cracked screen; with the supplier"},
            headers={**lead, "If-Match": etag},
        )
    )
    disposal = {
        "disposed_on": today.isoformat(),
        "agency": "Green Loop IT Recycling Ltd (WEEE licensed)",
        "receipt_reference": "GL-2026-0418",
        "data_destruction": "forensic_wipe",
        "certificate_reference": "GL-WIPE-77120",
        "note": "Battery failed; replaced by STAR-0012",
    }
    _ok(gateway.post(f"/v1/devices/assets/{assets['STAR-0099']['id']}/disposal", json=disposal, headers=lead))

    # The staff device register.
    phone = {
        "owner_id": staff["teacher"],
        "kind": "phone",
        "make": "Apple",
        "model": "iPhone 14",
        "serial_number": "G6TZK2P1N7",
    }
    teacher_phone = _ok(gateway.post("/v1/devices/staff-devices", json=phone, headers=lead))
    _ok(
        gateway.post(
            f"/v1/devices/staff-devices/{teacher_phone['id']}/image-permissions",
            json={
                "permitted_by": staff["head_teacher"],
                "valid_until": (now + timedelta(days=3)).isoformat(),
                "purpose": "Photos of the Year 5 residential trip; downloaded and deleted in school daily",
            },
            headers=headers["head_teacher"],
        )
    )
    # The teacher records today's use of that permission (the policy: such use is recorded). The
    # school day is the service's default time zone's.
    _ok(
        gateway.post(
            f"/v1/devices/staff-devices/{teacher_phone['id']}/image-uses",
            json={
                "taken_on": datetime.now(ZoneInfo("Europe/London")).date().isoformat(),
                "purpose": "school_trip",
                "description": "Year 5 residential: group shots at the climbing wall; downloaded and deleted",
                "pupils_count": 24,
            },
            headers=headers["teacher"],
        )
    )
    for owner, kind, make, model, serial in (
        (staff["computing_lead"], "laptop", "Apple", "MacBook Air M2", "C02HX1ABQ6L4"),
        (staff["office"], "phone", "Samsung", "Galaxy S23", "R5CT20ABCDE"),
    ):
        body = {"owner_id": owner, "kind": kind, "make": make, "model": model, "serial_number": serial}
        _ok(gateway.post("/v1/devices/staff-devices", json=body, headers=lead))

    # A morning of pupil phones: the office system registers hand-ins by the pupil's UPN.
    office = headers["office_system"]
    pupils = demo["pupils"]
    handins = []
    for number, pupil in enumerate(pupils[-4:], 1):
        found = _ok(
            gateway.get("/v1/identity/people", params={"external_ref": pupil["external_ref"]}, headers=office)
        )
        body = {
            "pupil_id": found["items"][0]["id"],
            "kind": "daily_handin",
            "description": f"{pupil['given_name']}'s phone",
            "storage_location": f"Reception, tray {number}",
        }
        handins.append(
            _ok(
                gateway.post(
                    "/v1/devices/phone-custody",
                    json=body,
                    headers={**office, "Idempotency-Key": f"demo-handin-{number}"},
                )
            )
        )
    _ok(
        gateway.post(
            f"/v1/devices/phone-custody/{handins[0]['id']}/return",
            json={"to_person_id": handins[0]["pupil_id"]},
            headers=office,
        )
    )

    carers = {pid: c for c in demo["carers"] if c["parental_responsibility"] for pid in c["pupil_ids"]}
    older = [p for p in pupils if p["year_group"] in ("5", "6") and p["id"] in carers]
    confiscated = []
    for pupil, reason in zip(
        older[:2],
        ("Used to film other pupils at break", "Phone rang repeatedly during the Year 6 SATs practice"),
        strict=False,
    ):
        body = {
            "pupil_id": pupil["id"],
            "kind": "confiscation",
            "description": f"{pupil['given_name']}'s phone, black case",
            "storage_location": "School office safe",
            "reason": reason,
        }
        confiscated.append(
            _ok(gateway.post("/v1/devices/phone-custody", json=body, headers=headers["teacher"]))
        )
    if confiscated:
        search = {
            "authorised_by": staff["head_teacher"],
            "reason": "Reasonable suspicion that the phone holds images of other pupils",
            "outcome": "content_deleted",
            "findings": "Two photographs of pupils in the playground, deleted with the head teacher present.",
        }
        _ok(
            gateway.post(
                f"/v1/devices/phone-custody/{confiscated[0]['id']}/searches",
                json=search,
                headers=headers["safeguarding_lead"],
            )
        )
    if len(confiscated) > 1:
        carer = carers[confiscated[1]["pupil_id"]]
        _ok(
            gateway.post(
                f"/v1/devices/phone-custody/{confiscated[1]['id']}/return",
                json={"to_person_id": carer["id"], "note": "Collected by parent after the meeting"},
                headers=office,
            )
        )
