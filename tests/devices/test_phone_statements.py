"""The phone writes' database work, pinned: the office system registers and returns phones all day,
and each statement is a round trip plus SQLAlchemy's work on the service's one event loop
(docs/benchmarks.md, bench/la_scale.py's notes). A change that adds a read back or a redundant
look-up fails here, and has to say why in the ceiling it raises."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Engine

from devices.phone_custody import service
from devices.phone_custody.schemas import PhoneMove
from servicekit.auth import Principal
from servicekit.clock import FrozenClock
from servicekit.etags import IfMatch
from tests.devices.test_phone_custody import URL, handin
from tests.world import School

# idempotency look-up, the pupil; the record, its first event, the audit entry, the idempotency record
REGISTER_CEILING = 6
# the record with its events (one statement), idempotency look-up; the conditional UPDATE, the event,
# the audit entry, the idempotency record (no read back of what was just written)
RETURN_CEILING = 6


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run while inside, savepoints left out (the tests' rollback wrapper)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            seen.append(" ".join(statement.split())[:100])

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def office(school: School) -> dict[str, str]:
    return {**school.headers("office"), "Idempotency-Key": uuid.uuid4().hex}


async def test_a_registration_and_a_return_stay_within_their_statement_budget(
    client: httpx.AsyncClient, school: School
) -> None:
    with statements() as registering:
        created = await client.post(URL, json=handin(school), headers=office(school))
    assert created.status_code == 201, created.text
    assert len(registering) <= REGISTER_CEILING, "\n".join(registering)

    with statements() as returning:
        returned = await client.post(
            f"{URL}/{created.json()['id']}/return",
            json={"to_person_id": str(school.pupils[0])},
            headers=office(school),
        )
    assert returned.status_code == 200, returned.text
    assert len(returning) <= RETURN_CEILING, "\n".join(returning)

    # The answers without a read back are still the records as stored.
    answer = returned.json()
    assert answer["status"] == "returned"
    assert [e["kind"] for e in answer["events"]] == ["received", "returned"]
    stored = await client.get(f"{URL}/{answer['id']}", headers=school.headers("office"))
    assert stored.json() == answer
    assert returned.headers["etag"] == stored.headers["etag"]


async def test_a_step_from_a_record_read_before_another_step_answers_with_both(
    app: FastAPI, client: httpx.AsyncClient, school: School, clock: FrozenClock
) -> None:
    """Without a read back, the answer is built from the record as read: when another step came
    between that read and this step's UPDATE, the record is read again instead."""
    created = (await client.post(URL, json=handin(school), headers=office(school))).json()
    custody_id = uuid.UUID(created["id"])
    async with app.state.sessionmaker() as session:
        stale = await service.get(session, school_id=school.id, custody_id=custody_id)
        assert stale is not None
        session.expunge(stale)
    moved = await client.post(
        f"{URL}/{custody_id}/moves", json={"storage_location": "Office safe"}, headers=office(school)
    )
    assert moved.status_code == 200, moved.text

    now = clock.now()
    actor = Principal(
        subject="office",
        scopes=frozenset({"phones:write"}),
        token_id="t",
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        school_id=school.id,
        person_id=school.staff["office"],
    )
    async with app.state.sessionmaker() as session:
        session.add(stale)
        answer = await service.move(
            session,
            stale,
            body=PhoneMove(storage_location="Head's office"),
            actor=actor,
            now=now,
            if_match=IfMatch(None, required=False),
        )
        await session.commit()
    assert answer.version == 3
    assert answer.storage_location == "Head's office"
    assert [(e.kind, e.location) for e in answer.events] == [
        ("received", "Reception drawer 2"),
        ("moved", "Office safe"),
        ("moved", "Head's office"),
    ]
