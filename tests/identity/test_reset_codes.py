"""Reset codes the office hands over, and class-managed (KS1) pupils' passwords: who may, for which
accounts; the code shown once, stored hashed, audited. (Using a code: tests/identity/test_parent_pages.py.)
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from identity.accounts.models import Account
from identity.people.models import Person
from identity.recovery.models import PasswordResetCode
from identity.security.hashing import code_digest
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.parents_support import make_family, office, rows
from tests.identity.signin_support import PASSWORD, make_account, person_headers, sign_in


async def _pupil_account(app: FastAPI, school_id: uuid.UUID, year_group: str) -> Account:
    account, _ = await make_account(app, ["pupil"], school_id=school_id, kind="pupil")
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(Person).where(Person.id == account.person_id).values(year_group=year_group)
        )
        await session.commit()
    return account


async def test_office_hands_a_parent_a_reset_code_once_hashed_and_audited(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    parent, _ = await make_account(idapp, ["parent"], school_id=family.school_id, kind="parent")
    issued = await api.post(f"/v1/identity/users/{parent.id}/reset-code", headers=office(signer, family))
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    code = issued.json()["code"]
    assert issued.json()["url"].endswith("/account/reset/code")
    (row,) = await rows(idapp, PasswordResetCode, account_id=parent.id)
    assert row.code_digest == code_digest(code) and row.channel == "office"
    (entry,) = await rows(idapp, AuditEntry, action="account.reset_code_issued")
    assert entry.target_id == str(parent.id) and entry.actor.startswith("user:")
    assert code not in str(entry.detail)
    # A second code replaces the first.
    await api.post(f"/v1/identity/users/{parent.id}/reset-code", headers=office(signer, family))
    first = next(r for r in await rows(idapp, PasswordResetCode, account_id=parent.id) if r.id == row.id)
    assert first.superseded_at is not None


async def test_the_office_cannot_reset_a_colleagues_account_the_head_can(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    teacher, _ = await make_account(idapp, ["teacher"], school_id=family.school_id)
    refused = await api.post(f"/v1/identity/users/{teacher.id}/reset-code", headers=office(signer, family))
    assert refused.status_code == 403 and refused.json()["type"].endswith("reset-not-allowed")
    assert await rows(idapp, PasswordResetCode) == []
    head = person_headers(signer, "head_teacher", family.school_id)
    assert (await api.post(f"/v1/identity/users/{teacher.id}/reset-code", headers=head)).status_code == 201


async def test_another_schools_account_gets_no_code(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    ours, theirs = await make_family(idapp), await make_family(idapp)
    parent, _ = await make_account(idapp, ["parent"], school_id=theirs.school_id, kind="parent")
    refused = await api.post(f"/v1/identity/users/{parent.id}/reset-code", headers=office(signer, ours))
    assert refused.status_code == 404
    for role in ("teacher", "parent", "safeguarding_lead"):
        headers = person_headers(signer, role, theirs.school_id)
        denied = await api.post(f"/v1/identity/users/{parent.id}/reset-code", headers=headers)
        assert denied.status_code == 403, role
    assert await rows(idapp, PasswordResetCode) == []


async def test_the_teacher_sets_a_class_managed_pupils_password_not_a_year_3s(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    teacher = person_headers(signer, "teacher", family.school_id)
    year_1 = await _pupil_account(idapp, family.school_id, "1")
    first = await sign_in(api, year_1.username)
    assert first.status_code == 200
    done = await api.post(
        f"/v1/identity/users/{year_1.id}/class-password",
        json={"password": "purple elephant 42"},
        headers=teacher,
    )
    assert done.status_code == 204, done.text
    assert (await sign_in(api, year_1.username, "purple elephant 42")).status_code == 200
    assert (await sign_in(api, year_1.username, PASSWORD)).status_code != 200
    # The old session ended.
    refreshed = await api.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
    )
    assert refreshed.status_code == 400
    # From Year 3 the password is the pupil's own.
    year_3 = await _pupil_account(idapp, family.school_id, "3")
    refused = await api.post(
        f"/v1/identity/users/{year_3.id}/class-password",
        json={"password": "purple elephant 42"},
        headers=teacher,
    )
    assert refused.status_code == 409 and refused.json()["type"].endswith("not-class-managed")
    # The password policy holds for class passwords too.
    weak = await api.post(
        f"/v1/identity/users/{year_1.id}/class-password", json={"password": "abc"}, headers=teacher
    )
    assert weak.status_code == 422
    # Another school's teacher reaches nothing.
    other = await make_family(idapp)
    outsider = person_headers(signer, "teacher", other.school_id)
    missing = await api.post(
        f"/v1/identity/users/{year_1.id}/class-password",
        json={"password": "purple elephant 43"},
        headers=outsider,
    )
    assert missing.status_code == 404
