"""Media-consent tests run in-process against a migrated database, each test in a rolled-back
transaction, with people put straight into the replica tables (as the follower would)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from identity.roles import scopes_for_roles
from media_consent.config import MediaConsentSettings
from media_consent.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaCarerLink, ReplicaPerson, ReplicaSchool
from servicekit.testing import TokenFactory, rollback_sessions

BASE = "/v1/media-consent"


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-consent-keys")


@pytest.fixture
async def app(
    database_for, clock: FrozenClock, tokens: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    url = database_for("media_consent")
    settings = MediaConsentSettings(database_url=url, environment="test", keys_dir=str(keys_dir))
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as c:
        yield c


@dataclass
class School:
    """A school in the replica, with helpers that add people to it and sign tokens for them."""

    app: FastAPI
    tokens: TokenFactory
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    staff_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    async def _add(self, *rows: object) -> None:
        async with self.app.state.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()

    async def create(self, name: str = "Star Primary School") -> School:
        await self._add(ReplicaSchool(id=self.id, name=name, urn="100001", la_code="316"))
        return self

    async def pupil(
        self,
        given_name: str = "Amy",
        family_name: str = "Khan",
        *,
        year_group: str = "3",
        is_on_roll: bool = True,
    ) -> uuid.UUID:
        pupil_id = uuid.uuid4()
        await self._add(
            ReplicaPerson(
                id=pupil_id,
                school_id=self.id,
                kind="pupil",
                given_name=given_name,
                family_name=family_name,
                year_group=year_group,
                date_of_birth=date(2017, 5, 1),
                is_on_roll=is_on_roll,
                roles=[],
            )
        )
        return pupil_id

    async def carer(
        self,
        pupil_id: uuid.UUID,
        *,
        parental_responsibility: bool = True,
        carer_id: uuid.UUID | None = None,
        is_active: bool = True,
    ) -> uuid.UUID:
        if carer_id is None:
            carer_id = uuid.uuid4()
            await self._add(
                ReplicaPerson(
                    id=carer_id,
                    school_id=self.id,
                    kind="parent",
                    given_name="Sara",
                    family_name="Khan",
                    is_on_roll=True,
                    roles=["parent"],
                )
            )
        await self._add(
            ReplicaCarerLink(
                id=uuid.uuid4(),
                pupil_id=pupil_id,
                carer_id=carer_id,
                relationship="mother",
                has_parental_responsibility=parental_responsibility,
                is_active=is_active,
            )
        )
        return carer_id

    async def staff(self, role: str) -> uuid.UUID:
        if role not in self.staff_ids:
            person_id = uuid.uuid4()
            await self._add(
                ReplicaPerson(
                    id=person_id,
                    school_id=self.id,
                    kind="staff",
                    given_name="Pat",
                    family_name=role.title(),
                    is_on_roll=True,
                    roles=[role],
                )
            )
            self.staff_ids[role] = person_id
        return self.staff_ids[role]

    async def as_role(self, role: str) -> dict[str, str]:
        person_id = await self.staff(role)
        return self.tokens.headers(
            scopes=sorted(scopes_for_roles([role])), roles=[role], school_id=self.id, person_id=person_id
        )

    def as_parent(self, carer_id: uuid.UUID) -> dict[str, str]:
        return self.tokens.headers(
            scopes=sorted(scopes_for_roles(["parent"])),
            roles=["parent"],
            school_id=self.id,
            person_id=carer_id,
        )

    def as_mle(self) -> dict[str, str]:
        return self.tokens.headers(
            scopes=["consent:check"], client_id="mle-" + self.id.hex[:6], school_id=self.id
        )

    async def consent(
        self,
        client: httpx.AsyncClient,
        pupil_id: uuid.UUID,
        grants: dict[str, str],
        *,
        valid_until: str | None = None,
        given_by: uuid.UUID | None = None,
    ) -> httpx.Response:
        """Record a paper form as the office: grants {"website/photo": "individual", ...}."""
        given_by = given_by or await self.carer(pupil_id)
        body: dict[str, object] = {
            "pupil_id": str(pupil_id),
            "given_by": str(given_by),
            "grants": [
                {"purpose": k.split("/")[0], "media_type": k.split("/")[1], "level": v}
                for k, v in grants.items()
            ],
            "form_dated_on": "2026-09-01",
        }
        if valid_until:
            body["valid_until"] = valid_until
        response = await client.post(f"{BASE}/records", json=body, headers=await self.as_role("office"))
        assert response.status_code == 201, response.text
        return response


@pytest.fixture
async def school(app: FastAPI, tokens: TokenFactory) -> School:
    return await School(app, tokens).create()


@pytest.fixture
async def other_school(app: FastAPI, tokens: TokenFactory) -> School:
    return await School(app, tokens).create("Other Primary School")
