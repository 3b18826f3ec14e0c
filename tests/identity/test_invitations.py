"""Invitations API: the office invites a carer with parental responsibility; the code is shown once
and stored hashed; list, read, revoke; refused for a carer without parental responsibility, another
school's carer, or one who has an account already. (Accepting one: tests/identity/test_parent_pages.py.)
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI

from identity.invitations.models import Invitation
from identity.security.hashing import code_digest
from servicekit.models import AuditEntry
from servicekit.testing import TokenFactory
from tests.identity.parents_support import add_link, make_family, office, rows
from tests.identity.signin_support import make_account, person_headers


async def test_office_invites_a_carer_code_shown_once_and_stored_hashed(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    headers = {**office(signer, family), "Idempotency-Key": "inv-1"}
    body = {"carer_id": str(family.carer_id), "email": "sarah@example.org"}
    created = await api.post("/v1/identity/invitations", json=body, headers=headers)
    assert created.status_code == 201, created.text
    invitation = created.json()
    assert invitation["status"] == "pending" and invitation["carer_id"] == str(family.carer_id)
    assert created.headers["cache-control"] == "no-store"
    code = invitation["code"]
    assert len(code.replace("-", "")) == 16
    assert invitation["url"].endswith(f"/account/invitation?code={code}")
    now = idapp.state.clock.now()
    assert invitation["expires_at"].startswith((now + timedelta(days=7)).date().isoformat())
    # Only the digest is kept.
    (row,) = await rows(idapp, Invitation, id=uuid.UUID(invitation["id"]))
    assert row.code_digest == code_digest(code) and code not in str(vars(row))
    # A retry replays the invitation, without the code.
    again = await api.post("/v1/identity/invitations", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == invitation["id"]
    assert again.json()["code"] is None and again.json()["url"] is None
    # Read and listed, never with the code.
    read = await api.get(f"/v1/identity/invitations/{invitation['id']}", headers=office(signer, family))
    assert read.status_code == 200 and "code" not in read.json()
    listed = await api.get(
        "/v1/identity/invitations", params={"status": "pending"}, headers=office(signer, family)
    )
    assert [i["id"] for i in listed.json()["items"]] == [invitation["id"]]
    (issued,) = await rows(idapp, AuditEntry, action="invitation.issued")
    assert issued.target_id == invitation["id"] and issued.actor.startswith("user:")


async def test_a_carer_without_parental_responsibility_is_not_invited(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    refused = await api.post(
        "/v1/identity/invitations", json={"carer_id": str(family.contact_id)}, headers=office(signer, family)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("no-parental-responsibility")
    assert await rows(idapp, Invitation) == []


async def test_another_schools_carer_is_not_invited(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    ours, theirs = await make_family(idapp), await make_family(idapp)
    for carer in (theirs.carer_id, ours.pupil_id, uuid.uuid4()):
        refused = await api.post(
            "/v1/identity/invitations", json={"carer_id": str(carer)}, headers=office(signer, ours)
        )
        assert refused.status_code == 422 and refused.json()["type"].endswith("unknown-carer")
    # Nor can the school be chosen in the body.
    smuggled = await api.post(
        "/v1/identity/invitations",
        json={"carer_id": str(theirs.carer_id), "school_id": str(theirs.school_id)},
        headers=office(signer, ours),
    )
    assert smuggled.status_code == 422
    assert await rows(idapp, Invitation) == []


async def test_another_schools_invitation_is_not_found_and_cannot_be_revoked(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    ours, theirs = await make_family(idapp), await make_family(idapp)
    created = await api.post(
        "/v1/identity/invitations", json={"carer_id": str(theirs.carer_id)}, headers=office(signer, theirs)
    )
    path = f"/v1/identity/invitations/{created.json()['id']}"
    assert (await api.get(path, headers=office(signer, ours))).status_code == 404
    assert (await api.post(f"{path}/revoke", headers=office(signer, ours))).status_code == 404
    listed = await api.get("/v1/identity/invitations", headers=office(signer, ours))
    assert listed.json()["items"] == []


async def test_revoke_and_a_new_invitation_withdraws_the_older(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    body = {"carer_id": str(family.carer_id)}
    first = (await api.post("/v1/identity/invitations", json=body, headers=office(signer, family))).json()
    second = (await api.post("/v1/identity/invitations", json=body, headers=office(signer, family))).json()
    older = await api.get(f"/v1/identity/invitations/{first['id']}", headers=office(signer, family))
    assert older.json()["status"] == "revoked"
    revoked = await api.post(
        f"/v1/identity/invitations/{second['id']}/revoke", headers=office(signer, family)
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_by"].startswith("user:")
    twice = await api.post(f"/v1/identity/invitations/{second['id']}/revoke", headers=office(signer, family))
    assert twice.status_code == 409 and twice.json()["type"].endswith("invitation-not-pending")
    assert len(await rows(idapp, AuditEntry, action="invitation.revoked")) == 2


async def test_expired_invitations_list_as_expired(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    created = await api.post(
        "/v1/identity/invitations", json={"carer_id": str(family.carer_id)}, headers=office(signer, family)
    )
    idapp.state.clock.advance(timedelta(days=7, seconds=1))
    read = await api.get(f"/v1/identity/invitations/{created.json()['id']}", headers=office(signer, family))
    assert read.json()["status"] == "expired"
    expired = await api.get(
        "/v1/identity/invitations", params={"status": "expired"}, headers=office(signer, family)
    )
    assert [i["id"] for i in expired.json()["items"]] == [created.json()["id"]]


async def test_a_carer_with_an_account_is_not_invited(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    account, _ = await make_account(idapp, ["parent"], school_id=family.school_id, kind="parent")
    refused = await api.post(
        "/v1/identity/invitations",
        json={"carer_id": str(account.person_id)},
        headers=office(signer, family),
    )
    # That carer has no link; the check of links comes first: refused either way, nothing made.
    assert refused.status_code == 422
    assert account.person_id is not None
    await add_link(idapp, family.school_id, family.pupil_id, account.person_id, responsibility=True)
    refused = await api.post(
        "/v1/identity/invitations",
        json={"carer_id": str(account.person_id)},
        headers=office(signer, family),
    )
    assert refused.status_code == 409 and refused.json()["type"].endswith("carer-has-account")


async def test_only_the_office_and_the_head_invite(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    family = await make_family(idapp)
    body = {"carer_id": str(family.carer_id)}
    for role in ("teacher", "safeguarding_lead", "parent", "pupil", "governor"):
        headers = person_headers(signer, role, family.school_id)
        refused = await api.post("/v1/identity/invitations", json=body, headers=headers)
        assert refused.status_code == 403, role
    head = person_headers(signer, "head_teacher", family.school_id)
    assert (await api.post("/v1/identity/invitations", json=body, headers=head)).status_code == 201
