"""Where a member of staff's alerts go: they set it themselves (address, quiet hours, digest), and
the services' alert senders look it up through identity's internal route, with a service client's
`alerts:contacts` token; nobody else reads an address."""

from __future__ import annotations

import uuid
from datetime import time

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from identity.clients import service as client_service
from identity.config import ServiceClientConfig
from servicekit.alerts import IdentityContactDirectory
from servicekit.models import AuditEntry
from tests.identity.signin_support import bearer, make_account, make_school, sign_in

PREFS = "/v1/identity/users/me/alert-preferences"
SECRET = "s3rvice-secret-value!"


async def staff_token(
    api: httpx.AsyncClient, idapp: FastAPI, school: uuid.UUID, kind: str = "staff"
) -> tuple[str, uuid.UUID | None]:
    account, _ = await make_account(
        idapp, ["teacher"] if kind == "staff" else ["parent"], school_id=school, kind=kind
    )
    token = (await sign_in(api, account.username)).json()["access_token"]
    return token, account.person_id


async def test_a_member_of_staff_sets_where_their_alerts_go(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    token, person_id = await staff_token(api, idapp, school)
    empty = await api.get(PREFS, headers=bearer(token))
    assert empty.status_code == 200
    assert empty.json() == {
        "email": None,
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "digest": False,
    }

    prefs = {
        "email": "a.smith@school.example",
        "quiet_hours_start": "18:00:00",
        "quiet_hours_end": "07:00:00",
        "digest": True,
    }
    put = await api.put(PREFS, json=prefs, headers=bearer(token))
    assert put.status_code == 200, put.text
    assert (await api.get(PREFS, headers=bearer(token))).json() == prefs

    # Bad input is refused and changes nothing.
    for bad in (
        {**prefs, "email": "a.smith@school.example\r\nBcc: all@evil.example"},
        {**prefs, "email": "not an address"},
        {**prefs, "quiet_hours_end": None},
        {**prefs, "colour": "blue"},
    ):
        refused = await api.put(PREFS, json=bad, headers=bearer(token))
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await api.get(PREFS, headers=bearer(token))).json() == prefs

    # Audited: who changed where their alerts go, never the address.
    async with idapp.state.sessionmaker() as session:
        [entry] = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert_preferences.changed")
        )
    assert entry.target_id == str(person_id) and "school.example" not in str(entry.detail)


async def test_only_staff_have_alert_preferences(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    school = await make_school(idapp)
    token, _ = await staff_token(api, idapp, school, kind="parent")
    assert (await api.get(PREFS, headers=bearer(token))).status_code == 403
    assert (await api.get(PREFS)).status_code == 401


async def test_services_look_addresses_up_with_their_scope_and_nobody_else(
    api: httpx.AsyncClient, idapp: FastAPI
) -> None:
    school = await make_school(idapp)
    token, person_id = await staff_token(api, idapp, school)
    assert person_id is not None
    await api.put(
        PREFS,
        json={"email": "a.smith@school.example", "quiet_hours_start": "18:00", "quiet_hours_end": "07:00"},
        headers=bearer(token),
    )
    configs = [
        ServiceClientConfig(
            client_id="incidents-feed", client_secret=SECRET, scopes=["identity:feed", "alerts:contacts"]
        ),
        ServiceClientConfig(client_id="feed-only", client_secret=SECRET, scopes=["identity:feed"]),
    ]
    async with idapp.state.sessionmaker() as session:
        await client_service.sync_service_clients(session, configs, now=idapp.state.clock.now())
        await session.commit()

    transport = httpx.ASGITransport(app=idapp)
    directory = IdentityContactDirectory(
        "http://identity.test", "incidents-feed", SECRET, transport=transport
    )
    found = await directory.contacts([person_id, uuid.uuid4()])
    [contact] = found.values()
    assert (contact.person_id, contact.email) == (person_id, "a.smith@school.example")
    assert (contact.quiet_hours_start, contact.quiet_hours_end, contact.digest) == (time(18), time(7), False)

    # A client without the scope, and a person's token (even the owner's), are refused.
    feed_only = await api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "identity:feed"},
        auth=("feed-only", SECRET),
    )
    body = {"person_ids": [str(person_id)]}
    refused = await api.post(
        "/internal/alert-contacts", json=body, headers=bearer(feed_only.json()["access_token"])
    )
    assert refused.status_code == 403
    assert (await api.post("/internal/alert-contacts", json=body, headers=bearer(token))).status_code == 403
    asked = await api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "alerts:contacts"},
        auth=("feed-only", SECRET),
    )
    assert asked.status_code in (400, 401)
