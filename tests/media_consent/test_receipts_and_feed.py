"""Receipts anyone can verify with the published keys (and never usable as a token); the change feed."""

from __future__ import annotations

import httpx
import jwt

from tests.media_consent.conftest import BASE, record_consent
from tests.media_consent.test_checks import ALL_INDIVIDUAL, check
from tests.world import School


async def test_a_receipt_verifies_with_a_second_library(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    result = await check(client, school, [amy, ben])
    jwks = await client.get(f"{BASE}/.well-known/jwks.json")
    assert jwks.status_code == 200
    header = jwt.get_unverified_header(result["receipt"])
    assert header["typ"] == "consent-receipt+jwt"
    assert header["alg"] == "ES256"
    key = jwt.PyJWKSet.from_dict(jwks.json())[header["kid"]]
    claims = jwt.decode(result["receipt"], key.key, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["decision"] == "deny"
    assert claims["pupil_ids"] == [str(amy), str(ben)]
    assert (claims["purpose"], claims["media_type"], claims["framing"]) == ("website", "photo", "group")
    assert claims["jti"] == result["check_id"]
    assert claims["school_id"] == str(school.id)
    assert claims["results"] == result["results"]
    tampered = result["receipt"].split(".")
    tampered[1] = tampered[1][:-4] + ("AAAA" if tampered[1][-4:] != "AAAA" else "BBBB")
    try:
        jwt.decode(".".join(tampered), key.key, algorithms=["ES256"], options={"verify_aud": False})
        raise AssertionError("a tampered receipt verified")
    except jwt.InvalidTokenError:
        pass


async def test_a_receipt_is_never_an_access_token(client: httpx.AsyncClient, school: School) -> None:
    amy = await school.add_pupil()
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    receipt = (await check(client, school, [amy]))["receipt"]
    body = {"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [str(amy)]}
    response = await client.post(f"{BASE}/checks", json=body, headers={"Authorization": f"Bearer {receipt}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        await client.get(f"{BASE}/changes", headers={"Authorization": f"Bearer {receipt}"})
    ).status_code == 401


async def test_the_change_feed_follows_withdrawals(
    client: httpx.AsyncClient, school: School, other_school: School
) -> None:
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    carer = await school.add_carer(amy)
    await record_consent(client, school, amy, ALL_INDIVIDUAL, given_by=carer)
    await record_consent(client, school, ben, ALL_INDIVIDUAL)
    theirs = await other_school.add_pupil()
    await record_consent(client, other_school, theirs, ALL_INDIVIDUAL)
    mle = school.headers("mle")
    first = await client.get(f"{BASE}/changes", params={"limit": 1}, headers=mle)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    page = first.json()
    assert page["has_more"] is True
    assert [(i["pupil_id"], i["version"], i["kind"]) for i in page["items"]] == [(str(amy), 1, "recorded")]
    rest = (await client.get(f"{BASE}/changes", params={"cursor": page["next_cursor"]}, headers=mle)).json()
    assert [i["pupil_id"] for i in rest["items"]] == [str(ben)]  # never another school's
    assert rest["has_more"] is False
    await client.post(
        f"{BASE}/pupils/{amy}/withdrawals",
        json={"given_by": str(carer)},
        headers=school.headers("office"),
    )
    later = (await client.get(f"{BASE}/changes", params={"cursor": rest["next_cursor"]}, headers=mle)).json()
    assert [(i["pupil_id"], i["version"], i["kind"]) for i in later["items"]] == [(str(amy), 2, "withdrawn")]
    assert later["items"][0]["changed_at"] == "2026-09-07T08:30:00Z"
    idle = (await client.get(f"{BASE}/changes", params={"cursor": later["next_cursor"]}, headers=mle)).json()
    assert idle == {"items": [], "next_cursor": later["next_cursor"], "has_more": False}
    bad = await client.get(f"{BASE}/changes", params={"cursor": "!!not-ours"}, headers=mle)
    assert bad.status_code == 422
