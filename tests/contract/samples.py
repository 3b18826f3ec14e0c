"""A valid request for every route the access matrix lets someone call (an `allow` cell).

The matrix asserts that an allowed call gets the route's success status, so each call must be one
the route accepts: a body it takes, ids of the caller's school's records, the current ETag where
the route needs If-Match. A route whose allowed call uses its record up (a pupil leaves, a phone
goes back, an asset is disposed of) is given a new record of the caller's school for each call.

`sample(route, school, who)` is that call; None for a route with no body and no ids of its own.
"""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from PIL import Image

from tests.world import DISCARD_WEBHOOK_URL, PlatformSchool, asset_body

# Allowed, yet no call of the matrix can succeed: the status the route answers instead, and why.
EXCEPTIONS: dict[str, tuple[int, str]] = {
    "DELETE /v1/incidents/{incident_id}": (409, "incidents are safeguarding records, never deleted"),
}
# Who signs an agreement: the audience of the version they are asked to sign.
AUDIENCE = {"governor": "governor", "parent": "parent", "pupil": "pupil", "visitor": "visitor"}


@dataclass
class Call:
    """One request's own parts: path ids (over the school's), body, extra headers."""

    ids: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _in_days(days: int) -> str:
    return str(date.today() + timedelta(days=days))


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _etag(school: PlatformSchool, path: str) -> dict[str, str]:
    """If-Match with the record's current ETag (read as the head, or the admin for identity)."""
    headers = (
        school.kit.platform.admin_headers
        if path.startswith("/v1/identity")
        else school.headers("head_teacher")
    )
    response = school.kit.platform.gateway.get(path, headers=headers)
    assert response.status_code == 200, f"{path}: {response.text}"
    return {"If-Match": response.headers["etag"]}


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (120, 160, 200)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()


# --- records a call uses up -----------------------------------------------------------------------


def _new_pupil(school: PlatformSchool) -> str:
    return str(school.kit.pupil(year_group="5")["id"])


def _new_link(school: PlatformSchool) -> dict[str, str]:
    pupil = school.kit.pupil(year_group="5")
    carer = school.kit.person("parent")
    link = school.post(
        f"/v1/identity/people/{pupil['id']}/carers",
        {"carer_id": carer["id"], "relationship": "aunt", "parental_responsibility": False},
        "platform_admin",
    )
    return {"pupil_id": pupil["id"], "link_id": link["id"]}


def _custody_body(school: PlatformSchool) -> dict[str, Any]:
    return {
        "pupil_id": school.ids["pupil_id"],
        "kind": "confiscation",
        "description": "Blue phone",
        "storage_location": "Office safe",
        "reason": "Used in a lesson",
    }


def _new_custody(school: PlatformSchool) -> str:
    return str(school.post("/v1/devices/phone-custody", _custody_body(school), "office")["id"])


def _device_body(school: PlatformSchool) -> dict[str, Any]:
    return {
        "owner_id": school.kit.staff_person("teacher"),
        "kind": "phone",
        "make": "Acme",
        "model": "P1",
        "serial_number": f"SN{_tag()}",
    }


def _new_device(school: PlatformSchool) -> str:
    return str(school.post("/v1/devices/staff-devices", _device_body(school))["id"])


def _new_asset(school: PlatformSchool) -> str:
    return str(school.post("/v1/devices/assets", asset_body())["id"])


def _loan_body(school: PlatformSchool) -> dict[str, Any]:
    return {"borrower_id": school.kit.staff_person("teacher"), "due_on": _in_days(7)}


def _new_client(school: PlatformSchool) -> str:
    body = {"name": f"MLE {_tag()}", "school_id": school.kit.id, "scopes": ["consent:check"]}
    client = school.post("/v1/identity/clients", body)
    return str(client.get("id") or client["client_id"])


def _new_account(school: PlatformSchool, kind: str, role: str, **person: Any) -> str:
    """An account of a new person of the school (a parent's for a reset code, a KS1 pupil's)."""
    body = {
        "person_id": school.kit.person(kind, **person)["id"],
        "username": f"{role}-{_tag()}",
        "password": secrets.token_urlsafe(16),
        "roles": [role],
    }
    return str(school.post("/v1/identity/users", body, "platform_admin")["id"])


def _new_carer(school: PlatformSchool) -> str:
    """A carer with parental responsibility and no account yet (an invitation is for one)."""
    return str(school.kit.carer(school.kit.pupil(year_group="5"))["id"])


def _new_invitation(school: PlatformSchool) -> str:
    return str(school.post("/v1/identity/invitations", {"carer_id": _new_carer(school)}, "office")["id"])


def _school_of_admin(school: PlatformSchool, who: str) -> dict[str, str]:
    """The platform administrator belongs to no school: a school's route asks them which."""
    return {"school_id": school.kit.id} if who == "platform_admin" else {}


def _publish_for(school: PlatformSchool, who: str) -> str:
    """A new current agreement for the audience `who` belongs to: its version id."""
    version = school.post(
        "/v1/identity/agreements",
        {
            "audience": AUDIENCE.get(who, "staff"),
            "title": f"AUP {_tag()}",
            "text": "Be kind online.",
            "school_id": school.kit.id,
        },
    )
    return str(version["id"])


def _current_agreement(school: PlatformSchool, who: str) -> Call:
    """The caller's own agreement to read: their audience has a current version."""
    _publish_for(school, who)
    return Call()


def _own_report(school: PlatformSchool, who: str) -> Call:
    """An incident `who` reported (staff other than the head and the lead read only their own)."""
    return Call(ids={"incident_id": school.post("/v1/incidents", _incident(school), who)["id"]})


# --- one call per route ---------------------------------------------------------------------------

Sample = Callable[[PlatformSchool, str], Call]


def _incident(school: PlatformSchool) -> dict[str, Any]:
    return {
        "category": "cyberbullying",
        "severity": "low",
        "occurred_at": _ago(60),
        "location": "on_site",
        "summary": "Name-calling in a group chat",
        "people": [{"person_id": school.ids["pupil_id"], "role": "affected"}],
    }


def _custody_path(school: PlatformSchool, custody_id: str | None = None) -> str:
    return f"/v1/devices/phone-custody/{custody_id or school.ids['custody_id']}"


SAMPLES: dict[str, Sample] = {
    # identity
    "POST /v1/identity/schools": lambda s, who: Call(
        json={
            "name": f"Matrix School {_tag()}",
            "urn": f"{uuid.uuid4().int % 900000 + 100000}",
            "la_code": s.kit.la_code,
        }
    ),
    "PATCH /v1/identity/schools/{school_id}": lambda s, who: Call(
        json={"la_code": s.kit.la_code}, headers=_etag(s, f"/v1/identity/schools/{s.kit.id}")
    ),
    "GET /v1/identity/agreements/unsigned": lambda s, who: Call(params=_school_of_admin(s, who)),
    "POST /v1/identity/people/imports": lambda s, who: Call(
        params=_school_of_admin(s, who),
        json={
            "rows": [
                {
                    "external_ref": f"M{_tag()}",
                    "kind": "staff",
                    "given_name": "Imported",
                    "family_name": "Person",
                }
            ]
        },
    ),
    "POST /v1/identity/people": lambda s, who: Call(
        json={"school_id": s.kit.id, "kind": "staff", "given_name": "New", "family_name": f"Person{_tag()}"}
    ),
    "PATCH /v1/identity/people/{person_id}": lambda s, who: Call(
        json={"year_group": "4"}, headers=_etag(s, f"/v1/identity/people/{s.ids['pupil_id']}")
    ),
    "POST /v1/identity/people/{person_id}/leave": lambda s, who: Call(
        ids={"person_id": _new_pupil(s)}, json={}
    ),
    "POST /v1/identity/people/{pupil_id}/carers": lambda s, who: Call(
        json={
            "carer_id": s.kit.person("parent")["id"],
            "relationship": "uncle",
            "parental_responsibility": False,
        }
    ),
    "POST /v1/identity/people/{pupil_id}/carers/{link_id}/end": lambda s, who: Call(ids=_new_link(s)),
    "POST /v1/identity/agreements": lambda s, who: Call(
        json={"audience": "staff", "title": f"AUP {_tag()}", "text": "Use ICT safely.", "school_id": s.kit.id}
    ),
    "GET /v1/identity/agreements/current": _current_agreement,
    "POST /v1/identity/agreements/{version_id}/signatures": lambda s, who: Call(
        ids={"version_id": _publish_for(s, who)}, json={}
    ),
    "POST /v1/identity/users": lambda s, who: Call(
        json={
            "person_id": s.kit.person("staff")["id"],
            "username": f"matrix-{_tag()}",
            "password": secrets.token_urlsafe(16),
            "roles": ["teacher"],
        }
    ),
    "PUT /v1/identity/users/{account_id}/roles": lambda s, who: Call(json={"roles": ["teacher"]}),
    "POST /v1/identity/users/{account_id}/password": lambda s, who: Call(
        json={"password": secrets.token_urlsafe(16)}
    ),
    "POST /v1/identity/users/{account_id}/reset-code": lambda s, who: Call(
        ids={"account_id": _new_account(s, "parent", "parent")}
    ),
    "POST /v1/identity/users/{account_id}/class-password": lambda s, who: Call(
        ids={"account_id": _new_account(s, "pupil", "pupil", year_group="1")},
        json={"password": secrets.token_urlsafe(16)},
    ),
    "POST /v1/identity/invitations": lambda s, who: Call(json={"carer_id": _new_carer(s)}),
    "GET /v1/identity/invitations/{invitation_id}": lambda s, who: Call(
        ids={"invitation_id": _new_invitation(s)}
    ),
    "POST /v1/identity/invitations/{invitation_id}/revoke": lambda s, who: Call(
        ids={"invitation_id": _new_invitation(s)}
    ),
    "POST /v1/identity/clients": lambda s, who: Call(
        json={"name": f"MLE {_tag()}", "school_id": s.kit.id, "scopes": ["consent:check"]}
    ),
    "POST /v1/identity/clients/{id}/deactivate": lambda s, who: Call(ids={"id": _new_client(s)}),
    # incidents
    "POST /v1/incidents": lambda s, who: Call(json=_incident(s)),
    "GET /v1/incidents/{incident_id}": _own_report,
    "GET /v1/incidents/{incident_id}/actions": _own_report,
    "GET /v1/incidents/{incident_id}/evidence": _own_report,
    "GET /v1/incidents/{incident_id}/history": _own_report,
    "PATCH /v1/incidents/{incident_id}": lambda s, who: Call(
        json={"severity": "medium"}, headers=_etag(s, f"/v1/incidents/{s.ids['incident_id']}")
    ),
    "POST /v1/incidents/{incident_id}/people": lambda s, who: Call(
        json={"people": [{"person_id": s.kit.staff_person(who), "role": "witness"}]}
    ),
    "POST /v1/incidents/{incident_id}/actions": lambda s, who: Call(
        json={"kind": "note", "occurred_at": _ago(30), "note": "Spoke to the pupil"}
    ),
    "POST /v1/incidents/{incident_id}/evidence": lambda s, who: Call(
        json={
            "kind": "document",
            "description": "The messages",
            "stored_at": "Safeguarding drive",
            "held_by": "DSL",
        }
    ),
    # devices
    "POST /v1/devices/phone-custody": lambda s, who: Call(json=_custody_body(s)),
    "POST /v1/devices/phone-custody/{custody_id}/moves": lambda s, who: Call(
        json={"storage_location": "Head's office"}, headers=_etag(s, _custody_path(s))
    ),
    "POST /v1/devices/phone-custody/{custody_id}/return": lambda s, who: _on_new_custody(
        s, {"to_person_id": s.ids["carer_id"]}
    ),
    "POST /v1/devices/phone-custody/{custody_id}/police-handover": lambda s, who: _on_new_custody(
        s, {"officer_name": "PC Jones", "police_reference": f"REF-{_tag()}"}
    ),
    "POST /v1/devices/phone-custody/{custody_id}/searches": lambda s, who: Call(
        json={
            "authorised_by": s.kit.staff_person("head_teacher"),
            "reason": "Reported images",
            "outcome": "nothing_found",
        },
        headers=_etag(s, _custody_path(s)),
    ),
    "POST /v1/devices/staff-devices": lambda s, who: Call(json=_device_body(s)),
    "POST /v1/devices/staff-devices/{device_id}/image-permissions": lambda s, who: Call(
        json={
            "permitted_by": s.kit.staff_person("head_teacher"),
            "valid_until": f"{_in_days(30)}T16:00:00Z",
            "purpose": "Class photos",
        }
    ),
    "POST /v1/devices/staff-devices/{device_id}/image-permission-withdrawals": lambda s, who: Call(
        json={"withdrawn_by": s.kit.staff_person("head_teacher"), "reason": "Term over"}
    ),
    "POST /v1/devices/staff-devices/{device_id}/removal": lambda s, who: Call(
        ids={"device_id": _new_device(s)}, json={"reason": "replaced"}
    ),
    "POST /v1/devices/assets": lambda s, who: Call(json=asset_body()),
    "PATCH /v1/devices/assets/{asset_id}": lambda s, who: Call(
        json={"location": "ICT suite"}, headers=_etag(s, f"/v1/devices/assets/{s.ids['asset_id']}")
    ),
    "POST /v1/devices/assets/{asset_id}/loans": lambda s, who: Call(
        ids={"asset_id": _new_asset(s)}, json=_loan_body(s)
    ),
    "POST /v1/devices/asset-loans/{loan_id}/return": lambda s, who: Call(
        ids={"loan_id": s.post(f"/v1/devices/assets/{_new_asset(s)}/loans", _loan_body(s))["id"]}, json={}
    ),
    "POST /v1/devices/assets/{asset_id}/scans": lambda s, who: Call(
        json={"scanned_at": _ago(10), "tool": "Defender", "result": "clean"}
    ),
    "POST /v1/devices/assets/{asset_id}/disposal": lambda s, who: Call(
        ids={"asset_id": _new_asset(s)},
        json={
            "disposed_on": str(date.today()),
            "agency": "WEEE Recycling Ltd",
            "receipt_reference": f"R-{_tag()}",
            "data_destruction": "forensic_wipe",
            "certificate_reference": f"C-{_tag()}",
        },
    ),
    # media-consent
    "POST /v1/media-consent/records": lambda s, who: Call(
        json={
            "pupil_id": s.ids["pupil_id"],
            "given_by": s.ids["carer_id"],
            "grants": [{"purpose": "mle", "media_type": "photo", "level": "group"}],
            "form_dated_on": str(date.today()),
        }
    ),
    "POST /v1/media-consent/pupils/{pupil_id}/withdrawals": lambda s, who: Call(
        json={"given_by": s.ids["carer_id"], "purposes": ["website"]}
    ),
    "POST /v1/media-consent/checks": lambda s, who: Call(
        json={"purpose": "mle", "media_type": "photo", "framing": "group", "pupil_ids": [s.ids["pupil_id"]]}
    ),
    "PUT /v1/media-consent/pupils/{pupil_id}/never-publish": lambda s, who: Call(json={}),
    "DELETE /v1/media-consent/pupils/{pupil_id}/never-publish": lambda s, who: _never_publish_set(s),
    "POST /v1/media-consent/webhooks": lambda s, who: Call(
        json={"url": DISCARD_WEBHOOK_URL, "events": ["consent.withdrawn"]}
    ),
    "DELETE /v1/media-consent/webhooks/{webhook_id}": lambda s, who: Call(
        ids={"webhook_id": _new_webhook(s)}
    ),
    "POST /v1/media-consent/media-scans": lambda s, who: Call(
        content=JPEG, headers={"Content-Type": "image/jpeg"}
    ),
}


def _on_new_custody(school: PlatformSchool, body: dict[str, Any]) -> Call:
    custody_id = _new_custody(school)
    return Call(
        ids={"custody_id": custody_id}, json=body, headers=_etag(school, _custody_path(school, custody_id))
    )


def _new_webhook(school: PlatformSchool) -> str:
    body = {"url": DISCARD_WEBHOOK_URL, "events": ["consent.withdrawn"]}
    return str(school.post("/v1/media-consent/webhooks", body, "mle")["id"])


def _never_publish_set(school: PlatformSchool) -> Call:
    path = f"/v1/media-consent/pupils/{school.ids['pupil_id']}/never-publish"
    response = school.kit.platform.gateway.put(path, json={}, headers=school.headers("head_teacher"))
    assert response.status_code == 200, response.text
    return Call()


def sample(route: str, school: PlatformSchool, who: str) -> Call | None:
    make = SAMPLES.get(route)
    return make(school, who) if make else None
