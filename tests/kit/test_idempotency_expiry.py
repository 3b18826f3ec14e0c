"""Idempotency records expire (servicekit.idempotency, `idempotency_ttl_hours`): a retry within the
time replays, after it the key is free again; the housekeeping counts and deletes what expired."""

from __future__ import annotations

from sqlalchemy import func, select

from servicekit.clock import FrozenClock
from servicekit.models import IdempotencyRecord
from servicekit.retention import expired_idempotency
from servicekit.testing import TokenFactory
from tests.kit.test_mechanisms import WRITE, count_notes


async def test_a_key_is_replayed_until_it_expires_then_free_again(
    kit_client, kit_app, tokens: TokenFactory, clock: FrozenClock
) -> None:
    assert kit_app.state.settings.idempotency_ttl_hours == 24
    key = {"Idempotency-Key": "note-expiry"}
    first = await kit_client.post(
        "/v1/notes", json={"text": "hello"}, headers={**tokens.headers(subject="user-x", **WRITE), **key}
    )
    clock.advance(hours=23, minutes=59)
    again = await kit_client.post(
        "/v1/notes", json={"text": "hello"}, headers={**tokens.headers(subject="user-x", **WRITE), **key}
    )
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert await count_notes(kit_app) == 1
    clock.advance(minutes=2)
    later = await kit_client.post(
        "/v1/notes", json={"text": "hello"}, headers={**tokens.headers(subject="user-x", **WRITE), **key}
    )
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert await count_notes(kit_app) == 2
    async with kit_app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


async def test_the_housekeeping_deletes_only_expired_records(
    kit_client, kit_app, tokens: TokenFactory, clock: FrozenClock
) -> None:
    for n in range(3):
        headers = {**tokens.headers(subject="user-x", **WRITE), "Idempotency-Key": f"old-{n}"}
        assert (await kit_client.post("/v1/notes", json={"text": "old"}, headers=headers)).status_code == 201
    clock.advance(hours=30)
    headers = {**tokens.headers(subject="user-x", **WRITE), "Idempotency-Key": "fresh"}
    assert (await kit_client.post("/v1/notes", json={"text": "new"}, headers=headers)).status_code == 201
    async with kit_app.state.sessionmaker() as session:
        assert await expired_idempotency(session, now=clock.now()) == 3
        assert await expired_idempotency(session, now=clock.now(), ttl_hours=31) == 0
        assert await expired_idempotency(session, now=clock.now(), delete_them=True) == 3
        await session.commit()
    async with kit_app.state.sessionmaker() as session:
        keys = (await session.scalars(select(IdempotencyRecord.key))).all()
    assert keys == ["fresh"]
    assert await count_notes(kit_app) == 4  # the records the requests made stay
