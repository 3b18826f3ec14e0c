"""The audit log API: readable with audit:read, a school's staff see their school only."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from servicekit.testing import TokenFactory
from tests.identity.signin_support import make_account, make_school, person_headers, sign_in


async def test_audit_is_per_school(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory, clock
) -> None:
    school, other = await make_school(idapp), await make_school(idapp)
    mine, _ = await make_account(idapp, ["teacher"], school_id=school)
    theirs, _ = await make_account(idapp, ["teacher"], school_id=other)
    await sign_in(api, mine.username)
    await sign_in(api, theirs.username)
    clock.advance(seconds=1)
    await sign_in(api, mine.username, "wrong password here")
    lead = person_headers(signer, "computing_lead", school)
    page = await api.get("/v1/identity/audit", params={"limit": 1}, headers=lead)
    assert page.status_code == 200
    assert page.json()["next_cursor"] and 'rel="next"' in page.headers["link"]
    entries = (await api.get("/v1/identity/audit", headers=lead)).json()["items"]
    assert {e["school_id"] for e in entries} == {str(school)}
    assert [e["action"] for e in entries] == ["signin.failed", "signin.succeeded"]  # newest first
    assert entries[0]["source_ip"] == "203.0.113.7"
    assert (
        await api.get("/v1/identity/audit", params={"school_id": str(other)}, headers=lead)
    ).status_code == 404
    teacher = person_headers(signer, "teacher", school)
    assert (await api.get("/v1/identity/audit", headers=teacher)).status_code == 403
    admin = person_headers(signer, "platform_admin")
    everything = (await api.get("/v1/identity/audit", headers=admin)).json()["items"]
    assert {str(school), str(other)} <= {e["school_id"] for e in everything}
