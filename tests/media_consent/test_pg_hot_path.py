"""The consent check's asyncpg path on PostgreSQL (checks/pg.py): the same facts as the session path,
every deny reason, withdrawals and leavers effective at once, every check recorded, no answer
without the database. PostgreSQL only: the other tests read through rolled-back sessions, which a
separate pool cannot see, so these run against a database of their own with committed rows.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from media_consent.checks import pg
from media_consent.checks import service as check_service
from media_consent.checks.models import ConsentCheck
from media_consent.config import MediaConsentSettings
from media_consent.consent.rules import MEDIA_TYPES, PURPOSES, evaluate
from media_consent.main import close_check_pool, create_app, open_check_pool
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaPerson
from servicekit.testing import TokenFactory, free_port, migrated_database
from tests.media_consent.conftest import BASE, record_consent
from tests.world import School

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="the asyncpg hot path runs on PostgreSQL only",
)

SERVICE_DIR = Path(__file__).resolve().parents[2] / "services" / "media-consent"
ALL_INDIVIDUAL = {"website/photo": "individual", "mle/photo": "individual", "newsletter/photo": "individual"}


@pytest.fixture(scope="module")
def committed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database("media_consent_pg", SERVICE_DIR, tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
async def pg_app(
    committed_url: str, clock: FrozenClock, tokens: TokenFactory, keys_dir: Path
) -> AsyncIterator[FastAPI]:
    settings = MediaConsentSettings(database_url=committed_url, environment="test", keys_dir=str(keys_dir))
    application = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    tokens.clock = clock
    await open_check_pool(application)
    assert isinstance(application.state.check_store, pg.PgCheckStore)
    yield application
    await close_check_pool(application)
    await application.state.engine.dispose()


@pytest.fixture
async def pg_client(pg_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=pg_app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as c:
        yield c


@pytest.fixture
async def pg_school(pg_app: FastAPI, tokens: TokenFactory) -> School:
    return await School.create(pg_app.state.sessionmaker, tokens, la_code="316")


async def check(
    client: httpx.AsyncClient, school: School, pupil_ids: list[uuid.UUID], **kwargs: object
) -> dict:
    body = {
        "purpose": "website",
        "media_type": "photo",
        "framing": "group",
        "pupil_ids": [str(p) for p in pupil_ids],
        **kwargs,
    }
    response = await client.post(f"{BASE}/checks", json=body, headers=school.headers("mle"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def reasons(result: dict) -> dict[str, str | None]:
    return {r["pupil_id"]: r["reason"] for r in result["results"]}


async def test_every_deny_reason_and_the_same_facts_as_the_session_path(
    pg_app: FastAPI, pg_client: httpx.AsyncClient, pg_school: School, tokens: TokenFactory, clock: FrozenClock
) -> None:
    school, client = pg_school, pg_client
    other = await School.create(pg_app.state.sessionmaker, tokens, name="Other Primary School", la_code="316")
    foreign = await other.add_pupil("Olu", "Ade")
    await record_consent(client, other, foreign, ALL_INDIVIDUAL)
    allowed = await school.add_pupil("Amy", "Khan")
    await record_consent(client, school, allowed, ALL_INDIVIDUAL)
    leaver = await school.add_pupil("Lee", "Vance", is_on_roll=False)
    no_record = await school.add_pupil("Nia", "Roe")
    withdrawn = await school.add_pupil("Wes", "Dunn")
    carer = await school.add_carer(withdrawn)
    await record_consent(client, school, withdrawn, ALL_INDIVIDUAL, given_by=carer)
    response = await client.post(
        f"{BASE}/pupils/{withdrawn}/withdrawals",
        json={"given_by": str(carer), "purposes": ["website"]},
        headers=school.headers("office"),
    )
    assert response.status_code == 201, response.text
    expired = await school.add_pupil("Eve", "Hart")
    await record_consent(client, school, expired, ALL_INDIVIDUAL, valid_until="2026-09-30")
    low = await school.add_pupil("Lou", "Park")
    await record_consent(client, school, low, {"website/photo": "group"})
    restricted = await school.add_pupil("Rio", "Shaw")
    await record_consent(client, school, restricted, ALL_INDIVIDUAL)
    flagged = await client.put(
        f"{BASE}/pupils/{restricted}/never-publish", headers=school.headers("safeguarding_lead")
    )
    assert flagged.status_code in (200, 201), flagged.text
    clock.advance(days=30)  # Eve's consent ended on 30 September

    unknown = uuid.uuid4()
    ids = [allowed, unknown, foreign, leaver, no_record, withdrawn, expired, low, restricted]
    # The asyncpg statement gives the rules the same answers as the SQLAlchemy read, for every purpose.
    async with pg_app.state.sessionmaker() as session:
        full = await check_service.load_facts(session, ids)
    assert len(full) == len(ids) - 1
    today = clock.now().date()
    for purpose, media_type, framing in itertools.product(PURPOSES, MEDIA_TYPES, ("group", "individual")):
        async with pg_app.state.check_store.pool.acquire() as conn:
            fast = await pg.load_facts(conn, ids, purpose=purpose, media_type=media_type)
        assert fast.keys() == full.keys()
        for pupil_id in ids:
            answers = [
                evaluate(
                    facts.get(pupil_id),
                    school_id=school.id,
                    purpose=purpose,
                    media_type=media_type,
                    framing=framing,
                    today=today,
                )
                for facts in (fast, full)
            ]
            assert answers[0] == answers[1], (purpose, media_type, framing, pupil_id)

    result = await check(client, school, ids, framing="individual")
    assert result["decision"] == "deny"
    assert reasons(result) == {
        str(allowed): None,
        str(unknown): "unknown_pupil",
        str(foreign): "unknown_pupil",
        str(leaver): "not_on_roll",
        str(no_record): "no_record",
        str(withdrawn): "withdrawn",
        str(expired): "expired",
        str(low): "level_too_low",
        str(restricted): "restricted",
    }
    assert (await check(client, school, [allowed], framing="individual"))["decision"] == "allow"


async def test_withdrawal_and_leaving_are_effective_for_the_next_check(
    pg_app: FastAPI, pg_client: httpx.AsyncClient, pg_school: School
) -> None:
    school, client = pg_school, pg_client
    amy = await school.add_pupil()
    carer = await school.add_carer(amy)
    await record_consent(client, school, amy, ALL_INDIVIDUAL, given_by=carer)
    ben = await school.add_pupil("Ben", "Cole")
    await record_consent(client, school, ben, ALL_INDIVIDUAL)
    assert (await check(client, school, [amy, ben]))["decision"] == "allow"
    response = await client.post(
        f"{BASE}/pupils/{amy}/withdrawals",
        json={"given_by": str(carer)},
        headers=school.headers("office"),
    )
    assert response.status_code == 201
    assert reasons(await check(client, school, [amy])) == {str(amy): "withdrawn"}
    async with pg_app.state.sessionmaker() as session:
        await session.execute(update(ReplicaPerson).where(ReplicaPerson.id == ben).values(is_on_roll=False))
        await session.commit()
    assert reasons(await check(client, school, [ben])) == {str(ben): "not_on_roll"}


async def test_every_check_is_recorded_before_its_signed_answer(
    pg_app: FastAPI, pg_client: httpx.AsyncClient, pg_school: School
) -> None:
    school, client = pg_school, pg_client
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    result = await check(client, school, [amy, ben, amy], filename="trip.jpg")
    async with pg_app.state.sessionmaker() as session:
        rows = (await session.scalars(select(ConsentCheck).where(ConsentCheck.school_id == school.id))).all()
    assert len(rows) == 1
    row = rows[0]
    assert str(row.id) == result["check_id"]
    assert row.actor.startswith("client:mle-")
    assert (row.source, row.purpose, row.media_type, row.framing) == ("check", "website", "photo", "group")
    assert row.pupil_ids == [str(amy), str(ben)]
    assert row.decision == result["decision"] == "deny"
    assert row.results == result["results"]
    assert row.request_id
    listed = await client.get(f"{BASE}/checks", headers=school.headers("head_teacher"))
    assert [c["id"] for c in listed.json()["items"]] == [result["check_id"]]
    jwks = (await client.get(f"{BASE}/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(result["receipt"])
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(result["receipt"], key.key, algorithms=["ES256"], options={"verify_aud": False})
    assert (claims["jti"], claims["decision"], claims["results"]) == (
        result["check_id"],
        "deny",
        result["results"],
    )


async def test_no_database_no_answer(
    committed_url: str, clock: FrozenClock, tokens: TokenFactory, keys_dir: Path
) -> None:
    """Fails closed: with the database unreachable the check is a 503, never an `allow`."""
    from sqlalchemy.engine import make_url

    dead = (
        make_url(committed_url).set(host="127.0.0.1", port=free_port()).render_as_string(hide_password=False)
    )
    settings = MediaConsentSettings(database_url=dead, environment="test", keys_dir=str(keys_dir))
    app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
    await open_check_pool(app)
    school_id = uuid.uuid4()
    headers = tokens.headers(scopes=["consent:check"], client_id="mle-dead", school_id=school_id)
    body = {"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [str(uuid.uuid4())]}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as client:
            response = await client.post(f"{BASE}/checks", json=body, headers=headers)
    finally:
        await close_check_pool(app)
        await app.state.engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "receipt" not in response.json()


async def test_concurrent_checks_are_each_recorded(
    pg_app: FastAPI, pg_client: httpx.AsyncClient, pg_school: School
) -> None:
    """Checks in flight together share a commit; each one's own row is there when it is answered."""
    school, client = pg_school, pg_client
    amy = await school.add_pupil()
    ben = await school.add_pupil("Ben", "Cole")
    await record_consent(client, school, amy, ALL_INDIVIDUAL)
    asked = [[amy], [ben], [amy, ben]] * 7
    answers = await asyncio.gather(*(check(client, school, ids) for ids in asked))
    async with pg_app.state.sessionmaker() as session:
        rows = {
            str(r.id): r
            for r in (await session.scalars(select(ConsentCheck).where(ConsentCheck.school_id == school.id)))
        }
    assert len(rows) == len(asked)
    for ids, answer in zip(asked, answers, strict=True):
        row = rows[answer["check_id"]]
        assert row.pupil_ids == [str(p) for p in ids]
        assert row.decision == answer["decision"] == ("allow" if ids == [amy] else "deny")
        assert row.results == answer["results"]


async def test_a_batch_that_cannot_be_stored_answers_none_of_its_checks(pg_app: FastAPI) -> None:
    """All the records of a shared commit are kept or none is, and every waiting check learns of it."""
    check_store: pg.PgCheckStore = pg_app.state.check_store
    same_id, school_id = uuid.uuid4(), uuid.uuid4()
    results = [{"pupil_id": str(uuid.uuid4()), "decision": "allow", "reason": None}]
    record = check_service.record_of(
        "allow",
        results,
        school_id=school_id,
        actor="client:mle",
        source="check",
        purpose="website",
        media_type="photo",
        framing="group",
        now=pg_app.state.clock.now(),
    )._replace(id=same_id)

    async def store() -> None:
        await check_store.store(record)

    outcomes = await asyncio.gather(store(), store(), return_exceptions=True)
    # Each check learns its batch failed, as a StatementFailed naming the error and not its values
    # (the store's statement errors leave without what they quote).
    assert all(isinstance(o, pg.StatementFailed) and "UniqueViolationError" in str(o) for o in outcomes), (
        outcomes
    )
    async with pg_app.state.sessionmaker() as session:
        kept = (await session.scalars(select(ConsentCheck).where(ConsentCheck.school_id == school_id))).all()
    assert kept == []


async def test_a_failing_hot_path_statement_logs_no_value_it_was_given(
    pg_app: FastAPI,
    pg_school: School,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # PostgreSQL quotes a value it refuses ('invalid input syntax for type integer: "..."'): the
    # statement here casts the pupil's bound id, so the refused value is in the server's message.
    pupil = await pg_school.add_pupil("Zia", "Quill")
    monkeypatch.setattr(pg, "FACTS_SQL", "SELECT ($1::uuid[])[1]::text::int, $2, $3")
    caplog.set_level("DEBUG")
    transport = httpx.ASGITransport(app=pg_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://media-consent.test") as client:
        response = await client.post(
            f"{BASE}/checks",
            json={"purpose": "website", "media_type": "photo", "framing": "group", "pupil_ids": [str(pupil)]},
            headers=pg_school.headers("mle"),
        )
    assert response.status_code == 500
    assert str(pupil) not in response.text
    logged = [logging.Formatter().format(record) for record in caplog.records]
    assert not [line for line in logged if str(pupil) in line]
    assert any("StatementFailed" in line for line in logged)
