"""Incidents tests run in-process against a migrated database, each test in a rolled-back transaction.

`school` puts a school with its people into the replica tables directly (as identity's feed would),
and `as_role(...)` gives request headers for a member of that school's staff.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from identity.roles import scopes_for_roles
from incidents.config import IncidentsSettings
from incidents.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaPerson, ReplicaSchool
from servicekit.testing import TokenFactory, rollback_sessions

STAFF_ROLES = ("head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher", "governor")


@dataclass
class School:
    id: uuid.UUID
    la_code: str
    staff: dict[str, uuid.UUID]
    pupils: list[uuid.UUID]
    tokens: TokenFactory
    extra_staff: list[uuid.UUID] = field(default_factory=list)

    def headers(self, role: str, *, person_id: uuid.UUID | None = None) -> dict[str, str]:
        """A signed-in member of staff with `role` (their own person id unless one is given)."""
        return self.tokens.headers(
            scopes=scopes_for_roles([role]),
            roles=[role],
            school_id=self.id,
            person_id=person_id or self.staff[role],
        )

    def la_headers(self, la_code: str | None = None) -> dict[str, str]:
        """The LA's reporting client (the contract's scopes; bound to an LA, not a school)."""
        return self.tokens.headers(
            scopes=["incidents:export", "incidents:stats"],
            client_id="la-reporting",
            la_code=la_code or self.la_code,
        )


@pytest.fixture
async def app(database_for, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    url = database_for("incidents")
    settings = IncidentsSettings(database_url=url, environment="test", export_chunk_rows=7)
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://incidents.test") as c:
        yield c


async def add_school(
    app: FastAPI,
    tokens: TokenFactory,
    *,
    la_code: str = "201",
    pupils: int = 3,
    births: list[date | None] | None = None,
) -> School:
    school_id = uuid.uuid4()
    staff = {role: uuid.uuid4() for role in STAFF_ROLES}
    pupil_ids = [uuid.uuid4() for _ in range(pupils)]
    births = births or [date(2016, 3, 1 + i) for i in range(pupils)]
    async with app.state.sessionmaker() as session:
        session.add(ReplicaSchool(id=school_id, name=f"School {la_code}", urn="100000", la_code=la_code))
        for role, pid in staff.items():
            kind = "governor" if role == "governor" else "staff"
            session.add(
                ReplicaPerson(
                    id=pid,
                    school_id=school_id,
                    kind=kind,
                    given_name=role,
                    family_name="Staff",
                    roles=[role],
                    is_on_roll=True,
                )
            )
        for i, pid in enumerate(pupil_ids):
            session.add(
                ReplicaPerson(
                    id=pid,
                    school_id=school_id,
                    kind="pupil",
                    given_name=f"Pupil{i}",
                    family_name="Child",
                    year_group=str(3 + i % 4),
                    date_of_birth=births[i] if i < len(births) else None,
                    external_ref=f"UPN{i:04d}",
                    is_on_roll=True,
                    roles=[],
                )
            )
        await session.commit()
    return School(id=school_id, la_code=la_code, staff=staff, pupils=pupil_ids, tokens=tokens)


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> School:
    return await add_school(app, tokens)


@pytest.fixture
def incident_body(school: School) -> Callable[..., dict[str, object]]:
    def make(category: str = "cyberbullying", **overrides: object) -> dict[str, object]:
        body: dict[str, object] = {
            "category": category,
            "severity": "medium",
            "occurred_at": "2026-09-06T19:30:00Z",
            "summary": "Unkind messages in a class group chat, reported by a parent.",
            "location": "off_site",
            "people": [
                {"person_id": str(school.pupils[0]), "role": "affected"},
                {"person_id": str(school.pupils[1]), "role": "subject"},
            ],
        }
        body.update(overrides)
        return body

    return make


async def report(
    client: httpx.AsyncClient, school: School, body: dict, role: str = "teacher", **kw: uuid.UUID
) -> dict:
    """Report an incident as `role` and return the created incident."""
    response = await client.post("/v1/incidents", json=body, headers=school.headers(role, **kw))
    assert response.status_code == 201, response.text
    return response.json()
