"""Helpers shared by the schools, people, imports, agreements and feed tests: tokens and records."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx

from identity.people.upn import check_letter
from identity.roles import scopes_for_roles
from servicekit.testing import TokenFactory

_urns = itertools.count(100001)
_serials = itertools.count(1)


def admin(tokens: TokenFactory) -> dict[str, str]:
    return tokens.headers(scopes=scopes_for_roles(["platform_admin"]), roles=["platform_admin"])


def staff(
    tokens: TokenFactory,
    school_id: str | uuid.UUID,
    role: str = "head_teacher",
    person_id: str | uuid.UUID | None = None,
) -> dict[str, str]:
    return tokens.headers(
        scopes=scopes_for_roles([role]), roles=[role], school_id=school_id, person_id=person_id
    )


def feed_client(tokens: TokenFactory) -> dict[str, str]:
    return tokens.headers(scopes=["identity:feed"], client_id="devices-feed")


def upn(serial: int | None = None, *, la: str = "801", temporary: str | None = None) -> str:
    """A valid UPN (LA 801, establishment 2000 + serial // 1000, year 26) with the given serial."""
    number = next(_serials) if serial is None else serial
    body = f"{la}{2000 + number // 1000}26{number % 1000:03d}"
    if temporary is not None:
        body = body[:11] + temporary
    return check_letter(body) + body


async def make_school(client: httpx.AsyncClient, tokens: TokenFactory, name: str = "Star Primary") -> str:
    response = await client.post(
        "/v1/identity/schools",
        json={"name": name, "urn": str(next(_urns)), "la_code": "801"},
        headers=admin(tokens),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def make_person(
    client: httpx.AsyncClient, tokens: TokenFactory, school_id: str, kind: str = "pupil", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "school_id": school_id,
        "kind": kind,
        "given_name": fields.pop("given_name", "Ada"),
        "family_name": fields.pop("family_name", "Lovelace"),
    }
    if kind == "pupil":
        body["year_group"] = fields.pop("year_group", "3")
    body.update(fields)
    response = await client.post("/v1/identity/people", json=body, headers=staff(tokens, school_id))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def link(
    client: httpx.AsyncClient,
    tokens: TokenFactory,
    school_id: str,
    pupil_id: str,
    carer_id: str,
    *,
    parental_responsibility: bool = True,
    relationship: str = "mother",
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/identity/people/{pupil_id}/carers",
        json={
            "carer_id": carer_id,
            "relationship": relationship,
            "parental_responsibility": parental_responsibility,
        },
        headers=staff(tokens, school_id),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
