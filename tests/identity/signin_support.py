"""Fixtures and helpers for the accounts, sign-in, token, client and key tests (identity part A).

The app under test signs with a key store pre-made in a temp folder holding the test signer's
key, so tokens identity issues and tokens the tests sign verify alike.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.accounts import service as account_service
from identity.accounts.models import Account
from identity.accounts.schemas import AccountCreate
from identity.config import IdentitySettings
from identity.main import create_app
from identity.people.models import Person
from identity.roles import scopes_for_roles
from identity.schools.models import School
from identity.security import totp
from identity.security.state import SecurityState
from servicekit.clock import FrozenClock
from servicekit.keystore import KeyStore
from servicekit.testing import TokenFactory, rollback_sessions

PASSWORD = "correct horse battery"
SECRET_KEYS = {"password", "password_hash", "totp_seed_sealed", "secret_digest", "token_digest"}


@pytest.fixture(scope="session")
def signer() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def keys_dir(tmp_path: Path, signer: TokenFactory, clock: FrozenClock) -> Path:
    path = tmp_path / "keys"
    KeyStore.install(path, signer.key.pem, signer.key.kid, clock.now())
    return path


@pytest.fixture
async def idapp(
    database_for, clock: FrozenClock, signer: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    url = database_for("identity")
    settings = IdentitySettings(database_url=url, environment="test", keys_dir=str(keys_dir))
    signer.clock = clock
    application = create_app(settings, clock=clock)
    application.state.test_signer = signer
    async with rollback_sessions(url) as sessionmaker:
        application.state.sessionmaker = sessionmaker
        yield application


@pytest.fixture
async def api(idapp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(idapp, "203.0.113.7") as c:
        yield c


def client_from(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://identity.test")


def security(app: FastAPI) -> SecurityState:
    sec: SecurityState = app.state.security
    return sec


async def make_school(app: FastAPI, la_code: str = "801") -> uuid.UUID:
    now = app.state.clock.now()
    school = School(
        id=uuid.uuid4(),
        name="Star Primary",
        urn=str(uuid.uuid4().int)[:6],
        la_code=la_code,
        created_at=now,
        updated_at=now,
    )
    async with app.state.sessionmaker() as session:
        session.add(school)
        await session.commit()
    return school.id


async def make_person(
    app: FastAPI, school_id: uuid.UUID, kind: str = "staff", *, on_roll: bool = True
) -> uuid.UUID:
    now = app.state.clock.now()
    person = Person(
        id=uuid.uuid4(),
        school_id=school_id,
        kind=kind,
        given_name="Alex",
        family_name="Smith",
        year_group="4" if kind == "pupil" else None,
        is_on_roll=on_roll,
        left_on=None if on_roll else date(2026, 7, 20),
        created_at=now,
        updated_at=now,
    )
    async with app.state.sessionmaker() as session:
        session.add(person)
        await session.commit()
    return person.id


async def make_account(
    app: FastAPI,
    roles: list[str],
    *,
    school_id: uuid.UUID | None = None,
    kind: str = "staff",
    username: str | None = None,
    password: str = PASSWORD,
    la_code: str | None = None,
    expires_at: Any = None,
) -> tuple[Account, str | None]:
    """An account made directly (not through the API); returns it and its TOTP seed, if any."""
    sec = security(app)
    async with app.state.sessionmaker() as session:
        person = None
        if school_id is not None:
            person = await session.get(Person, await make_person(app, school_id, kind))
        body = AccountCreate(
            username=username or f"user{uuid.uuid4().hex[:8]}",
            password=password,
            roles=roles,
            la_code=la_code,
        )
        account, seed = await account_service.create(
            session,
            body=body,
            person=person,
            expires_at=expires_at,
            seeds=sec.seeds,
            actor="system:test",
            now=app.state.clock.now(),
            by_platform_admin=True,
            audited=False,
        )
        await session.commit()
    return account, seed


async def sign_in(
    api: httpx.AsyncClient, username: str, password: str = PASSWORD, otp: str | None = None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password, **extra}
    if otp is not None:
        data["otp"] = otp
    return await api.post("/oauth/token", data=data)


def code(seed: str, app: FastAPI) -> str:
    return totp.code_at(seed, app.state.clock.now())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def person_headers(signer: TokenFactory, role: str, school_id: uuid.UUID | None = None) -> dict[str, str]:
    return signer.headers(scopes=scopes_for_roles([role]), roles=[role], school_id=school_id)


def assert_no_secrets(body: Any) -> None:
    """No response carries a hash, a stored digest or a seed (one-time fields are checked apart)."""
    text = str(body)
    assert "$argon2" not in text

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            assert not SECRET_KEYS & set(value), value
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body)
