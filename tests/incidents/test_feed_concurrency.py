"""The export feed under concurrent writers: every change is pulled, none skipped.

Runs against a database of its own with real commits (no per-test rollback), so that writers'
transactions genuinely overlap. Meaningful on PostgreSQL (TEST_DATABASE_URL); on SQLite writers
are serialised by the database and the test still holds.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from identity.roles import scopes_for_roles
from incidents.config import IncidentsSettings
from incidents.main import create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.models import ReplicaPerson, ReplicaSchool
from servicekit.testing import TokenFactory, migrated_database
from tests.conftest import SERVICE_DIRS

WRITERS = 8
CHANGES_PER_WRITER = 12


async def test_feed_with_concurrent_writers_skips_nothing(tmp_path: Path, tokens: TokenFactory) -> None:
    clock = FrozenClock()
    tokens.clock = clock
    with migrated_database("incidents", SERVICE_DIRS["incidents"], tmp_path) as url:
        settings = IncidentsSettings(
            database_url=url, environment="test", database_pool_size=WRITERS + 2, export_chunk_rows=3
        )
        app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks))
        school_id, lead_id = uuid.uuid4(), uuid.uuid4()
        async with app.state.sessionmaker() as session:
            session.add(ReplicaSchool(id=school_id, name="Concurrent Primary", urn="1", la_code="777"))
            session.add(
                ReplicaPerson(
                    id=lead_id,
                    school_id=school_id,
                    kind="staff",
                    given_name="L",
                    family_name="Lead",
                    roles=["safeguarding_lead"],
                )
            )
            await session.commit()
        lead = tokens.headers(
            scopes=scopes_for_roles(["safeguarding_lead"]),
            roles=["safeguarding_lead"],
            school_id=school_id,
            person_id=lead_id,
            lifetime=timedelta(hours=1),
        )
        la = tokens.headers(
            scopes=["incidents:export"],
            client_id="la",
            la_code="777",
            lifetime=timedelta(hours=1),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://incidents.test") as client:
            latest: dict[str, dict[str, object]] = {}
            writers_done = asyncio.Event()
            rng = random.Random(6)

            async def writer(n: int) -> None:
                mine: list[tuple[str, str]] = []  # (id, etag)
                for step in range(CHANGES_PER_WRITER):
                    clock.advance(seconds=1)  # every change gets its own updated_at
                    if not mine or rng.random() < 0.4:
                        response = await client.post(
                            "/v1/incidents",
                            headers=lead,
                            json={
                                "category": "misuse_of_ict",
                                "severity": "low",
                                "location": "on_site",
                                "occurred_at": "2026-09-01T10:00:00Z",
                                "summary": f"writer {n} step {step}",
                            },
                        )
                        assert response.status_code == 201, response.text
                        mine.append((response.json()["id"], response.headers["ETag"]))
                    else:
                        index = rng.randrange(len(mine))
                        incident_id, tag = mine[index]
                        severity = rng.choice(["low", "medium", "high", "critical"])
                        response = await client.patch(
                            f"/v1/incidents/{incident_id}",
                            json={"severity": severity, "status": "under_review"},
                            headers={**lead, "If-Match": tag},
                        )
                        assert response.status_code == 200, response.text
                        mine[index] = (incident_id, response.headers["ETag"])
                    await asyncio.sleep(0)

            async def reader() -> int:
                cursor: str | None = None
                pulls = 0
                while True:
                    params: dict[str, str | int] = {"limit": 5}
                    if cursor:
                        params["cursor"] = cursor
                    response = await client.get("/v1/incidents/export", params=params, headers=la)
                    assert response.status_code == 200, response.text
                    page = response.json()
                    pulls += 1
                    for item in page["items"]:
                        latest[item["id"]] = item
                    cursor = page["next_cursor"]
                    if not page["has_more"] and writers_done.is_set():
                        # One more pull after the writers finished: then the feed is drained.
                        final = await client.get(
                            "/v1/incidents/export", params={"cursor": cursor, "limit": 100_000}, headers=la
                        )
                        for item in final.json()["items"]:
                            latest[item["id"]] = item
                        return pulls
                    await asyncio.sleep(0)

            async def writers() -> None:
                await asyncio.gather(*(writer(n) for n in range(WRITERS)))
                writers_done.set()

            _, pulls = await asyncio.gather(writers(), reader())
            assert pulls > 1
            lead_view: dict[str, dict[str, object]] = {}
            cursor = None
            while True:
                params: dict[str, str | int] = {"limit": 500}
                if cursor:
                    params["cursor"] = cursor
                page = (await client.get("/v1/incidents", params=params, headers=lead)).json()
                lead_view.update({i["id"]: i for i in page["items"]})
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        await app.state.engine.dispose()
    # Every incident reached the feed, each with its latest state.
    assert set(latest) == set(lead_view)
    for incident_id, stored in lead_view.items():
        pulled = latest[incident_id]
        assert (pulled["severity"], pulled["status"], pulled["updated_at"]) == (
            stored["severity"],
            stored["status"],
            stored["updated_at"],
        ), incident_id
