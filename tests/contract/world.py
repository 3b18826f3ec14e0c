"""Two schools of one LA on the running platform, each holding one record of every kind.

The authorization matrix, the cross-school checks, the OWASP tests and the contract fuzzing all
ask for these records by id: a token of school A, school B's ids, and so on. Everything is made
through the gateway with the API the schools use, so the records are what a real school holds.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.devices.test_gateway_phones import upn, with_account
from tests.platform import RunningPlatform, SchoolKit

OFFICE_SYSTEM_SCOPES = ["phones:read", "phones:write", "people:read", "people:import"]
MLE_SCOPES = ["consent:check"]
LA_SCOPES = ["incidents:export", "incidents:stats"]
ROLES = (
    "platform_admin",
    "head_teacher",
    "safeguarding_lead",
    "computing_lead",
    "office",
    "teacher",
    "governor",
    "parent",
    "pupil",
    "visitor",
    "la_officer",
)
CLIENTS = ("mle", "office_system", "la")
GRANTS = [{"purpose": "mle", "media_type": "photo", "level": "group"}]


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.text}"
    return dict(response.json())


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass
class SchoolWorld:
    """One school and the id of one record of each kind (`ids["incident_id"]`, ...)."""

    kit: SchoolKit
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """A token for a role or an outside client of this school (`platform_admin`: no school)."""
        platform = self.kit.platform
        if who == "platform_admin":
            return platform.admin_headers
        if who == "parent":
            return self.kit.headers("parent", person_id=self.ids["carer_id"])
        if who == "pupil":
            return self.kit.headers("pupil", person_id=self.ids["pupil_id"])
        if who == "la_officer":
            return platform.tokens.headers(
                scopes=LA_SCOPES,
                roles=["la_officer"],
                la_code=self.kit.la_code,
                subject=f"la-officer-{self.kit.la_code}",
            )
        if who == "mle":
            return self.kit.client_headers(MLE_SCOPES, client_id=f"mle-{self.kit.id[:8]}")
        if who == "office_system":
            return self.kit.client_headers(OFFICE_SYSTEM_SCOPES, client_id=f"mis-{self.kit.id[:8]}")
        if who == "la":
            return platform.la_headers(self.kit.la_code, LA_SCOPES)
        return self.kit.headers(who)


def build_school(platform: RunningPlatform, la_code: str) -> SchoolWorld:
    kit = platform.new_school(la_code=la_code)
    world = SchoolWorld(kit)
    ids = world.ids
    gw, admin = platform.gateway, platform.admin_headers
    ids["school_id"] = kit.id
    pupil = kit.pupil(year_group="4", external_ref=upn())
    carer = kit.carer(pupil)
    ids["pupil_id"] = ids["person_id"] = pupil["id"]
    ids["carer_id"] = carer["id"]
    ids["year_group"] = "4"
    # Records the matrix may change for good (leave, end a link) are their own.
    ids["leaver_id"] = kit.pupil(year_group="5")["id"]
    spare = kit.pupil(year_group="5")
    spare_carer = kit.person("parent")
    link = _created(
        gw.post(
            f"/v1/identity/people/{spare['id']}/carers",
            json={"carer_id": spare_carer["id"], "relationship": "father", "parental_responsibility": True},
            headers=admin,
        )
    )
    ids["link_pupil_id"], ids["link_id"] = spare["id"], link["id"]
    head = with_account(platform, kit, "head_teacher")
    ids["head_id"] = head
    for role in ("teacher", "office", "safeguarding_lead", "computing_lead", "governor"):
        kit.staff_person(role)
    account = _created(
        gw.post(
            "/v1/identity/users",
            json={
                "person_id": kit.person("staff")["id"],
                "username": f"staff-{uuid.uuid4().hex[:8]}",
                "password": secrets.token_urlsafe(16),
                "roles": ["teacher"],
            },
            headers=admin,
        )
    )
    ids["account_id"] = account["id"]
    client = _created(
        gw.post(
            "/v1/identity/clients",
            json={"name": f"MLE {kit.id[:8]}", "school_id": kit.id, "scopes": MLE_SCOPES},
            headers=kit.headers("head_teacher"),
        )
    )
    ids["id"] = client.get("id") or client["client_id"]
    agreement = _created(
        gw.post(
            "/v1/identity/agreements",
            json={"audience": "staff", "title": "Staff AUP", "text": "Use ICT safely.", "school_id": kit.id},
            headers=kit.headers("head_teacher"),
        )
    )
    ids["version_id"] = agreement["id"]
    kit.sync()

    incident = _created(
        gw.post(
            "/v1/incidents",
            json={
                "category": "cyberbullying",
                "severity": "medium",
                "occurred_at": _ago(90),
                "location": "on_site",
                "summary": "Unkind messages in a class chat",
                "people": [{"person_id": pupil["id"], "role": "affected"}],
            },
            headers=kit.headers("teacher"),
        )
    )
    ids["incident_id"] = incident["id"]
    ids["incident_etag"] = incident.get("etag", "")
    phone = _created(
        gw.post(
            "/v1/devices/phone-custody",
            json={
                "pupil_id": pupil["id"],
                "kind": "confiscation",
                "description": "Black phone, cracked case",
                "storage_location": "Office safe",
                "reason": "Used in a lesson",
            },
            headers=kit.headers("office"),
        )
    )
    ids["custody_id"] = phone["id"]
    device = _created(
        gw.post(
            "/v1/devices/staff-devices",
            json={
                "owner_id": kit.staff_person("teacher"),
                "kind": "tablet",
                "make": "Acme",
                "model": "Tab 10",
                "serial_number": f"SN{uuid.uuid4().hex[:10]}",
            },
            headers=kit.headers("head_teacher"),
        )
    )
    ids["device_id"] = device["id"]
    asset = _created(
        gw.post(
            "/v1/devices/assets",
            json={
                "asset_tag": f"A-{uuid.uuid4().hex[:8]}",
                "kind": "laptop",
                "make": "Acme",
                "model": "Book 14",
                "location": "ICT suite",
                "holds_personal_data": True,
                "is_encrypted": True,
            },
            headers=kit.headers("head_teacher"),
        )
    )
    ids["asset_id"] = asset["id"]
    loan = _created(
        gw.post(
            f"/v1/devices/assets/{asset['id']}/loans",
            json={
                "borrower_id": kit.staff_person("teacher"),
                "due_on": str(date.today() + timedelta(days=7)),
            },
            headers=kit.headers("head_teacher"),
        )
    )
    ids["loan_id"] = loan["id"]
    disposed = _created(
        gw.post(
            "/v1/devices/assets",
            json={
                "asset_tag": f"D-{uuid.uuid4().hex[:8]}",
                "kind": "desktop",
                "make": "Acme",
                "model": "Tower",
                "location": "Store",
                "holds_personal_data": False,
                "is_encrypted": False,
            },
            headers=kit.headers("head_teacher"),
        )
    )
    _created(
        gw.post(
            f"/v1/devices/assets/{disposed['id']}/disposal",
            json={
                "disposed_on": str(date.today()),
                "agency": "WEEE Recycling Ltd",
                "receipt_reference": f"R-{uuid.uuid4().hex[:6]}",
                "data_destruction": "no_storage",
            },
            headers=kit.headers("head_teacher"),
        )
    )
    ids["disposed_asset_id"] = disposed["id"]
    _created(
        gw.post(
            "/v1/media-consent/records",
            json={
                "pupil_id": pupil["id"],
                "given_by": carer["id"],
                "grants": GRANTS,
                "form_dated_on": str(date.today()),
            },
            headers=kit.headers("office"),
        )
    )
    return world


@dataclass
class World:
    """School A and school B (same LA), and the platform they run on."""

    platform: RunningPlatform
    a: SchoolWorld
    b: SchoolWorld


def build_world(platform: RunningPlatform) -> World:
    la_code = str(random.SystemRandom().randrange(600, 1000))
    return World(platform, build_school(platform, la_code), build_school(platform, la_code))
