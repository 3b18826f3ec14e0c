"""The tests' one world: a school, its people by kind, their carers, and a token for each role or
outside client, made one of two ways.

- In-process (`School`): rows written straight into one service's replica tables, as identity's
  feed would, for tests that run that service's app in this process (tests/devices, incidents,
  media_consent).
- Through the platform (`PlatformSchool`, `build_world`): real records made through the gateway
  with the API the schools use (people by `tests/platform.py`'s `SchoolKit`), for tests of the
  running platform (tests/contract, tests/security).

Both speak one vocabulary: `school.id`, `school.la_code`, `school.staff[role]` (a person id), the
people by kind, and `school.headers(who)`: a token for a role of `ROLES` (its scopes from
identity/roles.py) or an outside client of `CLIENTS` (its scopes from CONTRACT.md), of this school.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.people.upn import check_letter
from identity.roles import ROLE_SCOPES, scopes_for_roles
from servicekit.models import ReplicaCarerLink, ReplicaPerson, ReplicaSchool
from servicekit.testing import TokenFactory

if TYPE_CHECKING:
    from tests.platform import RunningPlatform, SchoolKit

__all__ = [
    "CLIENTS",
    "CLIENT_SCOPES",
    "DISCARD_WEBHOOK_URL",
    "ROLES",
    "STAFF_ROLES",
    "PlatformSchool",
    "School",
    "World",
    "asset_body",
    "build_school",
    "build_world",
    "caller_headers",
    "upn",
    "with_account",
]

# A school's staff: one person of each of these roles is in every school.
# Every role, in identity's order (its one table of roles and scopes).
ROLES = tuple(ROLE_SCOPES)
STAFF_ROLES = ("head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher", "governor")
# The outside systems' OAuth clients (CONTRACT.md): the learning platform, the MIS, an LA's reporting.
CLIENT_SCOPES: dict[str, tuple[str, ...]] = {
    "mle": ("consent:check", "consent:webhooks"),
    "office_system": ("phones:read", "phones:write", "people:read", "people:import"),
    "la": ("incidents:export", "incidents:stats"),
}
CLIENTS = tuple(CLIENT_SCOPES)
_CLIENT_PREFIX = {"mle": "mle", "office_system": "mis"}
LA_REPORTING_CLIENT = "la-reporting"
# A webhook target on loopback where nothing listens (the test platforms allow loopback targets).
DISCARD_WEBHOOK_URL = "http://127.0.0.1:9/hooks"


def caller_headers(
    tokens: TokenFactory,
    who: str,
    *,
    school_id: uuid.UUID | str | None = None,
    la_code: str | None = None,
    person_id: uuid.UUID | str | None = None,
    subject: str | None = None,
    client_id: str | None = None,
    **claims: Any,
) -> dict[str, str]:
    """A token for `who` (a role or an outside client) of a school, as identity would sign it.

    `platform_admin` belongs to no school; `la_officer` and `la` to the school's LA code. `claims`
    are added to a person's token as they are (a test's own `amr`, `sid`, ...).
    """
    if who == "la":
        client_id = client_id or LA_REPORTING_CLIENT
        return tokens.headers(scopes=CLIENT_SCOPES["la"], client_id=client_id, la_code=la_code)
    if who in CLIENT_SCOPES:
        client_id = f"{_CLIENT_PREFIX[who]}-{str(school_id)[:8]}"
        return tokens.headers(scopes=CLIENT_SCOPES[who], client_id=client_id, school_id=school_id)
    if who == "platform_admin":
        return tokens.headers(
            scopes=sorted(ROLE_SCOPES["platform_admin"]), roles=[who], subject="platform-admin-test"
        )
    if who == "la_officer":
        return tokens.headers(
            scopes=CLIENT_SCOPES["la"], roles=[who], la_code=la_code, subject=f"la-officer-{la_code}"
        )
    return tokens.headers(
        scopes=sorted(scopes_for_roles([who])),
        roles=[who],
        school_id=school_id,
        person_id=person_id,
        subject=subject,
        **claims,
    )


# --- in-process: replica rows in one service's database -----------------------------------------


@dataclass
class School:
    """A school in one service's replica tables: its staff (one of each of `STAFF_ROLES`), and the
    pupils, carers, visitors and leavers (people off roll, of any kind) a test adds to it."""

    sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenFactory
    name: str = "Star Primary School"
    la_code: str = "202"
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    staff: dict[str, uuid.UUID] = field(default_factory=dict)
    pupils: list[uuid.UUID] = field(default_factory=list)
    carers: list[uuid.UUID] = field(default_factory=list)
    visitors: list[uuid.UUID] = field(default_factory=list)
    leavers: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    async def create(
        cls,
        sessionmaker: async_sessionmaker[AsyncSession],
        tokens: TokenFactory,
        *,
        name: str = "Star Primary School",
        la_code: str = "202",
    ) -> School:
        """The school's row and its staff (given name the role, family name the school's)."""
        school = cls(sessionmaker, tokens, name=name, la_code=la_code)
        await school._add(ReplicaSchool(id=school.id, name=name, urn="100000", la_code=la_code))
        for role in STAFF_ROLES:
            kind = "governor" if role == "governor" else "staff"
            school.staff[role] = await school.add_person(
                kind, role.replace("_", " ").title(), name, roles=[role]
            )
        return school

    async def _add(self, *rows: object) -> None:
        async with self.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()

    async def add_person(
        self,
        kind: str,
        given_name: str,
        family_name: str,
        *,
        roles: Iterable[str] = (),
        year_group: str | None = None,
        date_of_birth: date | None = None,
        external_ref: str | None = None,
        is_on_roll: bool = True,
    ) -> uuid.UUID:
        person_id = uuid.uuid4()
        await self._add(
            ReplicaPerson(
                id=person_id,
                school_id=self.id,
                kind=kind,
                given_name=given_name,
                family_name=family_name,
                year_group=year_group,
                date_of_birth=date_of_birth,
                external_ref=external_ref,
                is_on_roll=is_on_roll,
                roles=list(roles),
            )
        )
        if not is_on_roll:
            self.leavers.append(person_id)
        elif kind == "pupil":
            self.pupils.append(person_id)
        elif kind == "parent":
            self.carers.append(person_id)
        elif kind == "visitor":
            self.visitors.append(person_id)
        return person_id

    async def add_pupil(
        self,
        given_name: str = "Amy",
        family_name: str = "Khan",
        *,
        year_group: str = "3",
        date_of_birth: date | None = date(2017, 5, 1),
        external_ref: str | None = None,
        is_on_roll: bool = True,
    ) -> uuid.UUID:
        return await self.add_person(
            "pupil",
            given_name,
            family_name,
            year_group=year_group,
            date_of_birth=date_of_birth,
            external_ref=external_ref,
            is_on_roll=is_on_roll,
        )

    async def add_carer(
        self,
        pupil_id: uuid.UUID,
        *,
        parental_responsibility: bool = True,
        relationship: str = "mother",
        carer_id: uuid.UUID | None = None,
        is_active: bool = True,
        given_name: str = "Sara",
        family_name: str = "Khan",
    ) -> uuid.UUID:
        """A carer linked to `pupil_id` (a new parent, or `carer_id` linked to another child)."""
        if carer_id is None:
            carer_id = await self.add_person("parent", given_name, family_name, roles=["parent"])
        await self._add(
            ReplicaCarerLink(
                id=uuid.uuid4(),
                pupil_id=pupil_id,
                carer_id=carer_id,
                relationship=relationship,
                has_parental_responsibility=parental_responsibility,
                is_active=is_active,
            )
        )
        return carer_id

    def headers(
        self, who: str, *, person_id: uuid.UUID | None = None, la_code: str | None = None
    ) -> dict[str, str]:
        """A token for `who` of this school: a member of staff is their own person unless
        `person_id` says otherwise (a parent: `person_id` is the carer); `la_code` another LA's."""
        return caller_headers(
            self.tokens,
            who,
            school_id=self.id,
            la_code=la_code or self.la_code,
            person_id=person_id or self.staff.get(who),
        )


# --- through the platform: real records through the gateway ---------------------------------------

GRANTS = [{"purpose": "mle", "media_type": "photo", "level": "group"}]


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def asset_body() -> dict[str, Any]:
    """A new laptop for the inventory (its own tag), holding personal data, encrypted."""
    return {
        "asset_tag": f"A-{uuid.uuid4().hex[:8]}",
        "kind": "laptop",
        "make": "Acme",
        "model": "Book 14",
        "location": "ICT suite",
        "holds_personal_data": True,
        "is_encrypted": True,
    }


@dataclass
class PlatformSchool:
    """One school of the running platform and the id of one record of each kind (`ids["incident_id"]`)."""

    kit: SchoolKit
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """A token for a role or an outside client of this school (`platform_admin`: no school)."""
        person = {
            "parent": self.ids.get("carer_id"),
            "pupil": self.ids.get("pupil_id"),
            "visitor": self.ids.get("visitor_id"),
        }.get(who)
        if who in STAFF_ROLES or who in ("parent", "pupil", "visitor"):
            # Identity's people, with the stable subject the platform's own tests use.
            return self.kit.headers(who, person_id=person)
        # Each school's LA client is a client of its own (quotas are per client).
        client_id = f"la-{self.kit.la_code}-{self.kit.id[:8]}" if who == "la" else None
        tokens, la_code = self.kit.platform.tokens, self.kit.la_code
        return caller_headers(tokens, who, school_id=self.kit.id, la_code=la_code, client_id=client_id)

    def post(self, path: str, body: Any, who: str = "head_teacher") -> dict[str, Any]:
        """A record of this school made through the gateway by `who` (the head unless told): the body."""
        response = self.kit.platform.gateway.post(path, json=body, headers=self.headers(who))
        assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
        return dict(response.json())


def upn() -> str:
    """A valid unique pupil number (DfE format, check letter first) of LA 202."""
    body = "202" + f"{uuid.uuid4().int % 10**9:09d}"
    return check_letter(body) + body


def with_account(platform: RunningPlatform, school: SchoolKit, role: str) -> str:
    """A member of staff holding `role` on an identity account (the replica learns roles from accounts)."""
    person = school.staff_person(role)
    created = platform.gateway.post(
        "/v1/identity/users",
        json={
            "person_id": person,
            "username": f"{role}-{uuid.uuid4().hex[:8]}",
            "password": secrets.token_urlsafe(16),
            "roles": [role],
        },
        headers=platform.admin_headers,
    )
    assert created.status_code == 201, created.text
    return person


def build_school(platform: RunningPlatform, la_code: str) -> PlatformSchool:
    """A school with one record of every kind, each made through the gateway."""
    kit = platform.new_school(la_code=la_code)
    world = PlatformSchool(kit)
    ids = world.ids
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
    link = world.post(
        f"/v1/identity/people/{spare['id']}/carers",
        {"carer_id": spare_carer["id"], "relationship": "father", "parental_responsibility": True},
        "platform_admin",
    )
    ids["link_pupil_id"], ids["link_id"] = spare["id"], link["id"]
    head = with_account(platform, kit, "head_teacher")
    ids["head_id"] = head
    for role in ("teacher", "office", "safeguarding_lead", "computing_lead", "governor"):
        kit.staff_person(role)
    ids["visitor_id"] = kit.person("visitor")["id"]
    # A pending invitation for the school's carer (issue 13: parents come in by invitation).
    ids["invitation_id"] = world.post("/v1/identity/invitations", {"carer_id": carer["id"]}, "office")["id"]
    account = world.post(
        "/v1/identity/users",
        {
            "person_id": kit.person("staff")["id"],
            "username": f"staff-{uuid.uuid4().hex[:8]}",
            "password": secrets.token_urlsafe(16),
            "roles": ["teacher"],
        },
        "platform_admin",
    )
    ids["account_id"] = account["id"]
    client = world.post(
        "/v1/identity/clients",
        {"name": f"MLE {kit.id[:8]}", "school_id": kit.id, "scopes": list(CLIENT_SCOPES["mle"])},
    )
    ids["id"] = client.get("id") or client["client_id"]
    agreement = world.post(
        "/v1/identity/agreements",
        {"audience": "staff", "title": "Staff AUP", "text": "Use ICT safely.", "school_id": kit.id},
    )
    ids["version_id"] = agreement["id"]
    kit.sync()

    incident = world.post(
        "/v1/incidents",
        {
            "category": "cyberbullying",
            "severity": "medium",
            "occurred_at": _ago(90),
            "location": "on_site",
            "summary": "Unkind messages in a class chat",
            "people": [{"person_id": pupil["id"], "role": "affected"}],
        },
        "teacher",
    )
    ids["incident_id"] = incident["id"]
    ids["incident_etag"] = incident.get("etag", "")
    phone = world.post(
        "/v1/devices/phone-custody",
        {
            "pupil_id": pupil["id"],
            "kind": "confiscation",
            "description": "Black phone, cracked case",
            "storage_location": "Office safe",
            "reason": "Used in a lesson",
        },
        "office",
    )
    ids["custody_id"] = phone["id"]
    device = world.post(
        "/v1/devices/staff-devices",
        {
            "owner_id": kit.staff_person("teacher"),
            "kind": "tablet",
            "make": "Acme",
            "model": "Tab 10",
            "serial_number": f"SN{uuid.uuid4().hex[:10]}",
        },
    )
    ids["device_id"] = device["id"]
    # No image use is recorded here (it needs the head's permission first): the deletion route's
    # `own` cells need only a well-formed id; an alert's id likewise (a caller's own alerts only).
    ids["use_id"] = str(uuid.uuid4())
    ids["alert_id"] = str(uuid.uuid4())
    asset = world.post("/v1/devices/assets", asset_body())
    ids["asset_id"] = asset["id"]
    loan = world.post(
        f"/v1/devices/assets/{asset['id']}/loans",
        {
            "borrower_id": kit.staff_person("teacher"),
            "due_on": str(date.today() + timedelta(days=7)),
        },
    )
    ids["loan_id"] = loan["id"]
    disposed = world.post(
        "/v1/devices/assets",
        {
            "asset_tag": f"D-{uuid.uuid4().hex[:8]}",
            "kind": "desktop",
            "make": "Acme",
            "model": "Tower",
            "location": "Store",
            "holds_personal_data": False,
            "is_encrypted": False,
        },
    )
    world.post(
        f"/v1/devices/assets/{disposed['id']}/disposal",
        {
            "disposed_on": str(date.today()),
            "agency": "WEEE Recycling Ltd",
            "receipt_reference": f"R-{uuid.uuid4().hex[:6]}",
            "data_destruction": "no_storage",
        },
    )
    ids["disposed_asset_id"] = disposed["id"]
    # The MLE's webhook (to a loopback port nothing listens on: its deliveries just fail and retry),
    # registered before the consent record below, whose consent.changed delivery it then has.
    webhook = world.post(
        "/v1/media-consent/webhooks",
        {"url": DISCARD_WEBHOOK_URL, "events": ["consent.changed", "consent.withdrawn"]},
        "mle",
    )
    ids["webhook_id"] = webhook["id"]
    world.post(
        "/v1/media-consent/records",
        {
            "pupil_id": pupil["id"],
            "given_by": carer["id"],
            "grants": GRANTS,
            "form_dated_on": str(date.today()),
        },
        "office",
    )
    deliveries = platform.gateway.get(
        f"/v1/media-consent/webhooks/{webhook['id']}/deliveries", headers=world.headers("mle")
    )
    assert deliveries.status_code == 200, deliveries.text
    ids["delivery_id"] = deliveries.json()["items"][0]["id"]
    return world


@dataclass
class World:
    """School A and school B (same LA), and the platform they run on."""

    platform: RunningPlatform
    a: PlatformSchool
    b: PlatformSchool


def build_world(platform: RunningPlatform) -> World:
    la_code = str(random.SystemRandom().randrange(600, 1000))
    return World(platform, build_school(platform, la_code), build_school(platform, la_code))
