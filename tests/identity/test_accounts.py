"""Accounts API: creation with the password policy, two-factor enrolment shown once, who may grant
what, school isolation, role changes on the people feed, and no secret in any response.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from identity.accounts.models import Account
from identity.changes import service as change_service
from identity.security import passwords
from servicekit.db import sync_url
from servicekit.migrations import upgrade
from servicekit.testing import TokenFactory, drop_test_database, fresh_database_url
from tests.identity.signin_support import (
    PASSWORD,
    assert_no_secrets,
    bearer,
    code,
    make_account,
    make_person,
    make_school,
    person_headers,
    sign_in,
)


def _body(person_id, roles, password=PASSWORD, **extra):
    return {
        "person_id": str(person_id),
        "username": f"u{uuid.uuid4().hex[:10]}",
        "password": password,
        "roles": roles,
        **extra,
    }


async def test_head_teacher_creates_a_two_factor_account_secret_shown_once(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    person = await make_person(idapp, school)
    head = person_headers(signer, "head_teacher", school)
    created = await api.post("/v1/identity/users", json=_body(person, ["office"]), headers=head)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["has_two_factor"] is True and body["school_id"] == str(school)
    assert len(body["totp_secret"]) >= 16 and body["otpauth_uri"].startswith("otpauth://totp/")
    assert_no_secrets({k: v for k, v in body.items() if k not in ("totp_secret", "otpauth_uri")})
    again = await api.get(f"/v1/identity/users/{body['id']}", headers=head)
    assert "totp_secret" not in again.json() and "otpauth_uri" not in again.json()
    assert_no_secrets(again.json())
    listed = await api.get("/v1/identity/users", headers=head)
    assert [a["id"] for a in listed.json()["items"]] == [body["id"]]
    assert_no_secrets(listed.json())
    # The seed works for signing in.
    signed = await sign_in(api, body["username"], otp=code(body["totp_secret"], idapp))
    assert signed.status_code == 200


async def test_idempotent_retry_replays_without_the_secret(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    person = await make_person(idapp, school)
    head = {**person_headers(signer, "head_teacher", school), "Idempotency-Key": "acc-1"}
    body = _body(person, ["office"])
    first = await api.post("/v1/identity/users", json=body, headers=head)
    second = await api.post("/v1/identity/users", json=body, headers=head)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert first.json()["totp_secret"] and second.json()["totp_secret"] is None
    assert second.headers.get("idempotent-replayed") == "true"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("password", False),
        ("letmein123", False),
        ("Qwertyuiop", False),
        ("starprimary", False),
        ("short7!", False),
        ("Tr0ub4dor&3", True),  # 11 characters, not a common password
        ("password1234", True),  # 12 or more: anything goes (NCSC)
        ("correct horse battery staple", True),
        ("é" * 64, True),
    ],
)
async def test_password_policy(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, password: str, ok: bool
) -> None:
    school = await make_school(idapp)
    person = await make_person(idapp, school, "pupil")
    response = await api.post(
        "/v1/identity/users",
        json=_body(person, ["pupil"], password),
        headers=person_headers(signer, "head_teacher", school),
    )
    assert response.status_code == (201 if ok else 422), response.text
    if not ok:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]


@pytest.mark.parametrize("expires_at", [1700000000, "1700000000", "2026-12-31T16:00:00"])
async def test_an_expiry_is_an_rfc3339_time_with_an_offset_not_a_number(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, expires_at
) -> None:
    school = await make_school(idapp)
    person = await make_person(idapp, school, "visitor")
    head = person_headers(signer, "head_teacher", school)
    body = _body(person, ["visitor"], expires_at=expires_at)
    refused = await api.post("/v1/identity/users", json=body, headers=head)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    [error] = refused.json()["errors"]
    assert error["field"] == "body.expires_at" and "RFC 3339" in error["message"]
    assert (await api.get("/v1/identity/users", headers=head)).json()["items"] == []


async def test_overlong_password_is_refused_before_hashing(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = await make_school(idapp)
    person = await make_person(idapp, school)
    calls = []
    real = passwords.hash_password

    async def spy(value: str) -> str:
        calls.append(len(value))
        return await real(value)

    monkeypatch.setattr(passwords, "hash_password", spy)
    head = person_headers(signer, "head_teacher", school)
    refused = await api.post("/v1/identity/users", json=_body(person, ["teacher"], "x" * 1025), headers=head)
    assert refused.status_code == 422
    assert "1024" in refused.text
    assert calls == []
    # 1,024 is allowed and not truncated: the same password less its last character fails.
    long = "y" * 1023 + "z"
    body = _body(person, ["teacher"], long)
    assert (await api.post("/v1/identity/users", json=body, headers=head)).status_code == 201
    assert calls == [1024]
    assert (await sign_in(api, body["username"], long[:-1])).status_code == 400
    assert (await sign_in(api, body["username"], long)).status_code == 200


async def test_who_may_grant_what(api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory) -> None:
    school, other = await make_school(idapp), await make_school(idapp)
    staff = await make_person(idapp, school)
    pupil = await make_person(idapp, school, "pupil")
    theirs = await make_person(idapp, other)
    head = person_headers(signer, "head_teacher", school)
    admin = person_headers(signer, "platform_admin")
    teacher = person_headers(signer, "teacher", school)
    platform = {"username": "admin2", "password": PASSWORD, "roles": ["platform_admin"]}
    assert (await api.post("/v1/identity/users", json=platform, headers=head)).status_code == 403
    assert (
        await api.post("/v1/identity/users", json=_body(staff, ["platform_admin"]), headers=head)
    ).status_code == 403
    assert (
        await api.post("/v1/identity/users", json=_body(staff, ["teacher"]), headers=teacher)
    ).status_code == 403
    assert (
        await api.post("/v1/identity/users", json=_body(theirs, ["teacher"]), headers=head)
    ).status_code == 422
    # A pupil's account can never hold a staff role; unknown fields are refused.
    assert (
        await api.post("/v1/identity/users", json=_body(pupil, ["teacher"]), headers=head)
    ).status_code == 422
    extra = _body(staff, ["teacher"], is_active=True, school_id=str(other))
    assert (await api.post("/v1/identity/users", json=extra, headers=head)).status_code == 422
    made = await api.post("/v1/identity/users", json=platform, headers=admin)
    assert made.status_code == 201 and made.json()["person_id"] is None and made.json()["totp_secret"]
    la = {"username": "la-officer", "password": PASSWORD, "roles": ["la_officer"], "la_code": "801"}
    assert (await api.post("/v1/identity/users", json=la, headers=admin)).json()["la_code"] == "801"
    # The head teacher cannot see or touch the platform account or another school's.
    assert (await api.get(f"/v1/identity/users/{made.json()['id']}", headers=head)).status_code == 404
    theirs_acc = await api.post("/v1/identity/users", json=_body(theirs, ["teacher"]), headers=admin)
    for path in ("", "/deactivate", "/password"):
        method = api.get if path == "" else api.post
        kwargs = {"json": {"password": "another passphrase"}} if path == "/password" else {}
        response = await method(f"/v1/identity/users/{theirs_acc.json()['id']}{path}", headers=head, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 404, path
    listed = await api.get("/v1/identity/users", params={"school_id": str(other)}, headers=head)
    assert listed.status_code == 404


async def test_usernames_are_unique_case_insensitively(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    body = _body(await make_person(idapp, school), ["teacher"])
    assert (await api.post("/v1/identity/users", json=body, headers=head)).status_code == 201
    body2 = {**_body(await make_person(idapp, school), ["teacher"]), "username": body["username"].upper()}
    assert (await api.post("/v1/identity/users", json=body2, headers=head)).status_code == 409


async def test_role_change_moves_not_before_and_reaches_the_feed(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, clock
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school)
    token = (await sign_in(api, account.username)).json()["access_token"]
    clock.advance(seconds=3)
    head = person_headers(signer, "head_teacher", school)
    changed = await api.put(
        f"/v1/identity/users/{account.id}/roles", json={"roles": ["computing_lead"]}, headers=head
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["roles"] == ["computing_lead"] and body["totp_secret"]  # now needs two-factor
    assert body["not_before"] is not None
    clock.advance(seconds=1)
    assert (await api.get("/v1/identity/users/me", headers=bearer(token))).status_code == 401
    async with idapp.state.sessionmaker() as session:
        items, _, _ = await change_service.read_changes(session, cursor=None, limit=500)
    person_items = [i for i in items if i.kind == "person" and i.id == account.person_id]
    account_items = [i for i in items if i.kind == "account" and i.id == account.id]
    assert person_items[-1].data["roles"] == ["computing_lead"]
    assert account_items[-1].data["not_before"] == body["not_before"].replace("Z", "+00:00")
    assert account_items[-1].data["is_active"] is True
    head_cannot = await api.put(
        f"/v1/identity/users/{account.id}/roles", json={"roles": ["platform_admin"]}, headers=head
    )
    assert head_cannot.status_code == 403


async def test_admin_password_reset_and_search(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    account, _ = await make_account(idapp, ["teacher"], school_id=school, username="Jo.Bloggs")
    head = person_headers(signer, "head_teacher", school)
    weak = await api.post(
        f"/v1/identity/users/{account.id}/password", json={"password": "password1"}, headers=head
    )
    assert weak.status_code == 422
    reset = await api.post(
        f"/v1/identity/users/{account.id}/password", json={"password": "new staff passphrase"}, headers=head
    )
    assert reset.status_code == 204
    assert (await sign_in(api, "jo.bloggs", "new staff passphrase")).status_code == 200
    found = await api.get("/v1/identity/users", params={"q": "BLOGG", "role": "teacher"}, headers=head)
    assert [a["username"] for a in found.json()["items"]] == ["Jo.Bloggs"]
    none = await api.get("/v1/identity/users", params={"q": "blogg", "role": "office"}, headers=head)
    assert none.json()["items"] == []


async def _accounts_of(idapp: FastAPI, person: uuid.UUID) -> list[Account]:
    async with idapp.state.sessionmaker() as session:
        return list(await session.scalars(select(Account).where(Account.person_id == person)))


@pytest.mark.parametrize("roles", [["head_teacher"], ["safeguarding_lead"], ["teacher", "safeguarding_lead"]])
async def test_a_head_cannot_mint_a_second_head_or_safeguarding_lead(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, roles: list[str]
) -> None:
    # The attack: the head makes a staff person and an account that reads incidents in their
    # place (so allegations against the head themselves), by every route that sets roles.
    school = await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    stooge = await make_person(idapp, school)
    created = await api.post("/v1/identity/users", json=_body(stooge, roles), headers=head)
    assert created.status_code == 403, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["type"].endswith("role-not-grantable")
    assert await _accounts_of(idapp, stooge) == []
    # Nor by adding the role to an account the head may make (a teacher's).
    teacher = await api.post("/v1/identity/users", json=_body(stooge, ["teacher"]), headers=head)
    assert teacher.status_code == 201, teacher.text
    raised = await api.put(
        f"/v1/identity/users/{teacher.json()['id']}/roles", json={"roles": roles}, headers=head
    )
    assert raised.status_code == 403, raised.text
    assert raised.json()["type"].endswith("role-not-grantable")
    [account] = await _accounts_of(idapp, stooge)
    assert account.roles == ["teacher"] and account.not_before is None
    # The roll import and outside systems' clients set no roles at all: a row or a client that
    # names one is refused, and no account appears.
    roll = {
        "rows": [
            {
                "external_ref": "S0001",
                "kind": "staff",
                "given_name": "New",
                "family_name": "Head",
                "roles": roles,
            }
        ]
    }
    imported = await api.post("/v1/identity/people/imports", json=roll, headers=head)
    assert imported.status_code == 200, imported.text
    assert [line["status"] for line in imported.json()["rows"]] == ["refused"]
    client = {"name": "Stooge", "school_id": str(school), "scopes": ["incidents:read"], "roles": roles}
    assert (await api.post("/v1/identity/clients", json=client, headers=head)).status_code == 422
    async with idapp.state.sessionmaker() as session:
        held = list(await session.scalars(select(Account).where(Account.school_id == school)))
    assert [a.roles for a in held] == [["teacher"]]
    # The platform administrator can, on both routes.
    admin = person_headers(signer, "platform_admin")
    granted = await api.put(f"/v1/identity/users/{account.id}/roles", json={"roles": roles}, headers=admin)
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == sorted(roles) and granted.json()["totp_secret"]
    fresh = await make_person(idapp, school)
    made = await api.post("/v1/identity/users", json=_body(fresh, roles), headers=admin)
    assert made.status_code == 201, made.text
    # Keeping a privileged role the account already holds grants nothing: the head may add a
    # role beside it, or take it away.
    kept = await api.put(
        f"/v1/identity/users/{made.json()['id']}/roles",
        json={"roles": [*roles, "office"] if "teacher" not in roles else ["teacher"]},
        headers=head,
    )
    assert kept.status_code == 200, kept.text


async def test_one_staff_account_per_person(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    staff = await make_person(idapp, school)
    head = person_headers(signer, "head_teacher", school)
    admin = person_headers(signer, "platform_admin")
    first = await api.post("/v1/identity/users", json=_body(staff, ["teacher"]), headers=head)
    assert first.status_code == 201, first.text
    # A second account on the same member of staff (its holder's identity, with a password the
    # head knows) is refused, whoever asks.
    for who in (head, admin):
        second = await api.post("/v1/identity/users", json=_body(staff, ["office"]), headers=who)
        assert second.status_code == 409, second.text
        assert second.headers["content-type"] == "application/problem+json"
        assert second.json()["type"].endswith("staff-account-exists")
    assert [a.id for a in await _accounts_of(idapp, staff)] == [uuid.UUID(first.json()["id"])]
    # The database holds the rule too (two requests at once, or any other writer).
    now = idapp.state.clock.now()
    async with idapp.state.sessionmaker() as session:
        session.add(
            Account(
                person_id=staff,
                school_id=school,
                staff_person_id=staff,
                username="twin",
                username_key="twin",
                password_hash="x",
                roles=["teacher"],
                is_active=True,
                password_changed_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()
    # Other people (a parent, a pupil) are not members of staff.
    parent = await make_person(idapp, school, "parent")
    assert (
        await api.post("/v1/identity/users", json=_body(parent, ["parent"]), headers=head)
    ).status_code == 201


def test_the_migration_keeps_each_staff_persons_oldest_account(tmp_path: Path) -> None:
    # Data from before the rule: a member of staff with two accounts, a pupil with one. The
    # oldest staff account takes staff_person_id; the later one stays null; the pupil's is null.
    service_dir = Path(__file__).resolve().parents[2] / "services" / "identity"
    url = fresh_database_url("identity", tmp_path)
    try:
        upgrade(service_dir, url, "c8f2b1d3e4a5")
        school, staff, pupil = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        older, newer, pupils = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        at = datetime(2026, 1, 1, tzinfo=UTC)
        uid = sa.Uuid()
        engine = sa.create_engine(sync_url(url))
        with engine.begin() as conn:
            conn.execute(
                sa.table(
                    "school",
                    *(
                        sa.column(c)
                        for c in ("name", "urn", "la_code", "created_at", "updated_at", "version")
                    ),
                    sa.column("id", uid),
                ).insert(),
                {
                    "id": school,
                    "name": "S",
                    "urn": "123456",
                    "la_code": "801",
                    "created_at": at,
                    "updated_at": at,
                    "version": 1,
                },
            )
            person = sa.table(
                "person",
                *(
                    sa.column(c)
                    for c in (
                        "kind",
                        "given_name",
                        "family_name",
                        "is_on_roll",
                        "created_at",
                        "updated_at",
                        "version",
                    )
                ),
                sa.column("id", uid),
                sa.column("school_id", uid),
            )
            for pid, kind in ((staff, "staff"), (pupil, "pupil")):
                conn.execute(
                    person.insert(),
                    {
                        "id": pid,
                        "school_id": school,
                        "kind": kind,
                        "given_name": "A",
                        "family_name": "B",
                        "is_on_roll": True,
                        "created_at": at,
                        "updated_at": at,
                        "version": 1,
                    },
                )
            account = sa.table(
                "account",
                *(
                    sa.column(c)
                    for c in (
                        "username",
                        "username_key",
                        "password_hash",
                        "is_active",
                        "password_changed_at",
                        "created_at",
                        "updated_at",
                    )
                ),
                sa.column("roles", sa.JSON()),
                sa.column("id", uid),
                sa.column("person_id", uid),
                sa.column("school_id", uid),
            )
            for aid, pid, made in (
                (newer, staff, at + timedelta(days=1)),
                (older, staff, at),
                (pupils, pupil, at),
            ):
                conn.execute(
                    account.insert(),
                    {
                        "id": aid,
                        "person_id": pid,
                        "school_id": school,
                        "username": aid.hex,
                        "username_key": aid.hex,
                        "password_hash": "x",
                        "roles": [],
                        "is_active": True,
                        "password_changed_at": made,
                        "created_at": made,
                        "updated_at": made,
                    },
                )
        engine.dispose()
        upgrade(service_dir, url)
        engine = sa.create_engine(sync_url(url))
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(sa.column("id", uid), sa.column("staff_person_id", uid)).select_from(
                    sa.table("account")
                )
            )
            found = {row[0]: row[1] for row in rows}
        engine.dispose()
    finally:
        drop_test_database(url)
    assert found == {older: staff, newer: None, pupils: None}
