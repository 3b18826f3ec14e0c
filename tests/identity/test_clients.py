"""OAuth clients: secret shown once, rotation, deactivation, what a head teacher may grant, LA
clients, the services' clients from the settings, and school isolation.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from identity.clients import service as client_service
from identity.config import ServiceClientConfig
from servicekit.testing import TokenFactory
from tests.identity.signin_support import assert_no_secrets, make_school, person_headers


async def _token(api: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await api.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


async def test_register_rotate_deactivate(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    body = {
        "name": "Office MIS",
        "school_id": str(school),
        "scopes": ["phones:read", "phones:write", "people:read"],
    }
    created = await api.post("/v1/identity/clients", json=body, headers=head)
    assert created.status_code == 201, created.text
    made = created.json()
    secret = made.pop("client_secret")
    assert secret and made["school_id"] == str(school)
    assert_no_secrets(made)
    assert (await _token(api, made["client_id"], secret)).status_code == 200
    listed = await api.get("/v1/identity/clients", headers=head)
    assert [c["client_id"] for c in listed.json()["items"]] == [made["client_id"]]
    assert "client_secret" not in listed.text
    assert_no_secrets(listed.json())
    rotated = await api.post(f"/v1/identity/clients/{made['id']}/secret", headers=head)
    new_secret = rotated.json()["client_secret"]
    assert new_secret != secret
    assert (await _token(api, made["client_id"], secret)).status_code == 401
    assert (await _token(api, made["client_id"], new_secret)).status_code == 200
    off = await api.post(f"/v1/identity/clients/{made['id']}/deactivate", headers=head)
    assert off.json()["is_active"] is False
    refused = await _token(api, made["client_id"], new_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_head_teacher_grants_only_school_scopes_for_own_school(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school, other = await make_school(idapp), await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    for scopes in (["identity:feed"], ["schools:write"], ["consent:check", "made:up"]):
        response = await api.post(
            "/v1/identity/clients",
            json={"name": "x", "school_id": str(school), "scopes": scopes},
            headers=head,
        )
        assert response.status_code == 422, scopes
    theirs = await api.post(
        "/v1/identity/clients",
        json={"name": "x", "school_id": str(other), "scopes": ["consent:check"]},
        headers=head,
    )
    assert theirs.status_code == 422
    la = await api.post(
        "/v1/identity/clients",
        json={"name": "x", "la_code": "801", "scopes": ["incidents:export"]},
        headers=head,
    )
    assert la.status_code == 404
    teacher = person_headers(signer, "teacher", school)
    assert (await api.get("/v1/identity/clients", headers=teacher)).status_code == 403
    admin = person_headers(signer, "platform_admin")
    their_client = await api.post(
        "/v1/identity/clients",
        json={"name": "MLE", "school_id": str(other), "scopes": ["consent:check"]},
        headers=admin,
    )
    assert (
        await api.get(f"/v1/identity/clients/{their_client.json()['id']}", headers=head)
    ).status_code == 404
    assert (
        await api.post(f"/v1/identity/clients/{their_client.json()['id']}/secret", headers=head)
    ).status_code == 404


async def test_a_head_cannot_mint_a_reporting_client_to_read_around_the_incident_rule(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    """A client's export has no person to hide an allegation from: a head who could give a client
    incidents:export would read the allegation against themselves through it."""
    school = await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    for scopes in (["incidents:export"], ["incidents:stats"], ["phones:read", "incidents:export"]):
        refused = await api.post(
            "/v1/identity/clients",
            json={"name": "x", "school_id": str(school), "scopes": scopes},
            headers=head,
        )
        assert refused.status_code == 422, (scopes, refused.text)
        assert refused.json()["type"].endswith("scopes-refused")
    assert (await api.get("/v1/identity/clients", headers=head)).json()["items"] == []
    admin = person_headers(signer, "platform_admin")
    granted = await api.post(
        "/v1/identity/clients",
        json={"name": "School reporting", "school_id": str(school), "scopes": ["incidents:export"]},
        headers=admin,
    )
    assert granted.status_code == 201, granted.text


async def test_la_client_token_carries_la_code(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    admin = person_headers(signer, "platform_admin")
    created = await api.post(
        "/v1/identity/clients",
        json={"name": "LA reporting", "la_code": "801", "scopes": ["incidents:export", "incidents:stats"]},
        headers=admin,
    )
    assert created.status_code == 201
    wrong = await api.post(
        "/v1/identity/clients",
        json={"name": "LA", "la_code": "801", "scopes": ["people:read"]},
        headers=admin,
    )
    assert wrong.status_code == 422
    token = await _token(api, created.json()["client_id"], created.json()["client_secret"])
    import base64
    import json

    raw = token.json()["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert claims["la_code"] == "801" and "school_id" not in claims


async def test_service_clients_from_settings(api: httpx.AsyncClient, idapp: FastAPI) -> None:
    config = ServiceClientConfig(
        client_id="devices-feed", client_secret="s3rvice-secret-value!", scopes=["identity:feed"]
    )
    async with idapp.state.sessionmaker() as session:
        await client_service.sync_service_clients(session, [config], now=idapp.state.clock.now())
        await session.commit()
    ok = await api.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "identity:feed"},
        auth=("devices-feed", "s3rvice-secret-value!"),
    )
    assert ok.status_code == 200 and ok.json()["scope"] == "identity:feed"
    changed = ServiceClientConfig(
        client_id="devices-feed", client_secret="a-new-secret-value!!", scopes=["identity:feed"]
    )
    async with idapp.state.sessionmaker() as session:
        await client_service.sync_service_clients(session, [changed], now=idapp.state.clock.now())
        await session.commit()
    assert (await _token(api, "devices-feed", "s3rvice-secret-value!")).status_code == 401
    assert (await _token(api, "devices-feed", "a-new-secret-value!!")).status_code == 200


async def test_a_head_gives_the_schools_mle_its_webhooks_scope_which_no_role_holds(
    api: httpx.AsyncClient, idapp: FastAPI, signer: TokenFactory
) -> None:
    school = await make_school(idapp)
    head = person_headers(signer, "head_teacher", school)
    created = await api.post(
        "/v1/identity/clients",
        json={"name": "MLE", "school_id": str(school), "scopes": ["consent:check", "consent:webhooks"]},
        headers=head,
    )
    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["consent:check", "consent:webhooks"]
    # A teacher cannot register clients at all, webhooks or not.
    teacher = person_headers(signer, "teacher", school)
    refused = await api.post(
        "/v1/identity/clients",
        json={"name": "x", "school_id": str(school), "scopes": ["consent:webhooks"]},
        headers=teacher,
    )
    assert refused.status_code == 403
