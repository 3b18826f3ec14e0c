"""Devices tests run in-process against a migrated database, each test in a rolled-back transaction.

`school` and `other_school` put a school's people straight into the people replica (as identity's
feed would): a head teacher, a safeguarding lead, a computing lead, office staff, a teacher, two
pupils, a carer with parental responsibility, a carer without, and a visitor.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from devices.config import DevicesSettings
from devices.main import create_app
from identity.roles import scopes_for_roles
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaCarerLink, ReplicaPerson, ReplicaSchool
from servicekit.testing import TokenFactory, rollback_sessions

OFFICE_CLIENT_SCOPES = ("phones:read", "phones:write", "people:read")
STAFF_ROLES = ("head_teacher", "safeguarding_lead", "computing_lead", "office", "teacher")


@dataclass
class World:
    """One school's people in the replica, and tokens for each of them."""

    tokens: TokenFactory
    id: uuid.UUID
    staff: dict[str, uuid.UUID] = field(default_factory=dict)
    pupil: uuid.UUID = field(default_factory=uuid.uuid4)
    pupil2: uuid.UUID = field(default_factory=uuid.uuid4)
    carer: uuid.UUID = field(default_factory=uuid.uuid4)
    carer_without_pr: uuid.UUID = field(default_factory=uuid.uuid4)
    visitor: uuid.UUID = field(default_factory=uuid.uuid4)
    leaver: uuid.UUID = field(default_factory=uuid.uuid4)

    def as_role(self, role: str) -> dict[str, str]:
        person = self.staff.get(role) or (self.carer if role == "parent" else uuid.uuid4())
        return self.tokens.headers(
            scopes=sorted(scopes_for_roles([role])), roles=[role], school_id=self.id, person_id=person
        )

    def office_client(self) -> dict[str, str]:
        """The school office system (the MIS): exactly the scopes CONTRACT.md gives it."""
        return self.tokens.headers(
            scopes=OFFICE_CLIENT_SCOPES, client_id=f"mis-{self.id.hex[:8]}", school_id=self.id
        )


async def make_world(app: FastAPI, tokens: TokenFactory, name: str) -> World:
    world = World(tokens=tokens, id=uuid.uuid4())
    rows: list[object] = [ReplicaSchool(id=world.id, name=name, urn="100000", la_code="202")]

    def person(pid: uuid.UUID, kind: str, given: str, family: str, **extra: object) -> None:
        rows.append(
            ReplicaPerson(
                id=pid, school_id=world.id, kind=kind, given_name=given, family_name=family, **extra
            )
        )

    for role in STAFF_ROLES:
        world.staff[role] = uuid.uuid4()
        person(
            world.staff[role], "staff", role.replace("_", " ").title(), name, roles=[role], is_on_roll=True
        )
    person(world.pupil, "pupil", "Amara", "Okafor", year_group="5", external_ref="A123", is_on_roll=True)
    person(world.pupil2, "pupil", "Ben", "Hughes", year_group="6", external_ref="B456", is_on_roll=True)
    person(world.carer, "parent", "Grace", "Okafor", is_on_roll=True)
    person(world.carer_without_pr, "parent", "Sam", "Okafor", is_on_roll=True)
    person(world.visitor, "visitor", "Vic", "Visitor", is_on_roll=True)
    person(world.leaver, "staff", "Lee", "Leaver", roles=["teacher"], is_on_roll=False)
    rows.append(
        ReplicaCarerLink(
            id=uuid.uuid4(),
            pupil_id=world.pupil,
            carer_id=world.carer,
            relationship="mother",
            has_parental_responsibility=True,
            is_active=True,
        )
    )
    rows.append(
        ReplicaCarerLink(
            id=uuid.uuid4(),
            pupil_id=world.pupil,
            carer_id=world.carer_without_pr,
            relationship="step-parent",
            has_parental_responsibility=False,
            is_active=True,
        )
    )
    async with app.state.sessionmaker() as session:
        session.add_all(rows)
        await session.commit()
    return world


@pytest.fixture
async def app(database_for, clock: FrozenClock, tokens: TokenFactory) -> AsyncIterator[FastAPI]:
    url = database_for("devices")
    settings = DevicesSettings(database_url=url, environment="test")
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://devices.test") as c:
        yield c


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> World:
    return await make_world(app, tokens, "Star Primary School")


@pytest.fixture
async def other_school(app: FastAPI, tokens: TokenFactory) -> World:
    return await make_world(app, tokens, "Moon Primary School")
