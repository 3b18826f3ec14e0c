"""servicekit's shared mechanisms as a client sees them: errors, request ids, body cap, idempotency,
pagination, change feeds, audit, settings."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import uuid

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select, text

from servicekit import audit
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.db import create_engine, make_sessionmaker
from servicekit.feeds import next_sequence
from servicekit.models import AuditEntry
from servicekit.settings import ServiceSettings
from servicekit.testing import TokenFactory
from tests.kit.kitapp import Note, create_app

WRITE = {"scopes": ["notes:write", "notes:read"], "roles": ["teacher"]}


async def count_notes(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Note)) or 0)


async def test_validation_error_is_problem_json_listing_each_field(kit_client, kit_app, tokens) -> None:
    response = await kit_client.post(
        "/v1/notes", json={"text": "", "colour": "red"}, headers=tokens.headers(**WRITE)
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {e["field"] for e in body["errors"]} == {"body.text", "body.colour"}
    assert body["status"] == 422 and body["request_id"] == response.headers["x-request-id"]
    assert await count_notes(kit_app) == 0


async def test_unexpected_error_is_500_problem_without_internals(kit_client) -> None:
    response = await kit_client.get("/v1/notes/boom/unexpected")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.json()["type"].endswith("internal-error")


@pytest.mark.parametrize("route", ["/v1/notes/boom/statement", "/v1/notes/boom/database"])
async def test_a_failing_statement_logs_no_bound_values(
    kit_client, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A pupil's name bound to a statement that fails: neither the logs (with their tracebacks)
    # nor the answer may carry it (engines hide parameters).
    name = "Zebedee Quillfeather-Okonkwo"
    caplog.set_level(logging.DEBUG)
    response = await kit_client.post(route, json={"text": name})
    assert response.status_code >= 500
    assert response.headers["content-type"] == "application/problem+json"
    assert name not in response.text
    logged = [logging.Formatter().format(record) for record in caplog.records]
    assert logged, "the failure is logged"
    assert not [line for line in logged if name in line]


async def test_missing_record_is_404_problem(kit_client, tokens) -> None:
    response = await kit_client.get(f"/v1/notes/{uuid.uuid4()}", headers=tokens.headers(**WRITE))
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"
    bad = await kit_client.get("/v1/notes/not-a-uuid", headers=tokens.headers(**WRITE))
    assert bad.status_code == 422


async def test_request_id_is_kept_when_well_formed_and_made_otherwise(kit_client) -> None:
    kept = await kit_client.get("/livez", headers={"X-Request-ID": "mle-42.abc"})
    assert kept.headers["x-request-id"] == "mle-42.abc"
    made = await kit_client.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] != "bad id\twith spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_body_over_the_cap_is_413_and_changes_nothing(kit_client, kit_app, tokens) -> None:
    response = await kit_client.post(
        "/v1/notes", content=b'{"text": "' + b"x" * 4000 + b'"}', headers=tokens.headers(**WRITE)
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    async def chunks():
        yield b'{"text": "'
        yield b"y" * 4000
        yield b'"}'

    streamed = await kit_client.post("/v1/notes", content=chunks(), headers=tokens.headers(**WRITE))
    assert streamed.status_code == 413
    assert await count_notes(kit_app) == 0


async def test_idempotent_retry_replays_and_creates_nothing(kit_client, kit_app, tokens) -> None:
    headers = {**tokens.headers(**WRITE), "Idempotency-Key": "note-1"}
    first = await kit_client.post("/v1/notes", json={"text": "hello"}, headers=headers)
    again = await kit_client.post("/v1/notes", json={"text": "hello"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_notes(kit_app) == 1
    other_body = await kit_client.post("/v1/notes", json={"text": "changed"}, headers=headers)
    assert other_body.status_code == 422
    assert await count_notes(kit_app) == 1


async def test_idempotency_keys_belong_to_their_caller(kit_client, kit_app, tokens: TokenFactory) -> None:
    a = {**tokens.headers(subject="user-a", **WRITE), "Idempotency-Key": "same"}
    b = {**tokens.headers(subject="user-b", **WRITE), "Idempotency-Key": "same"}
    assert (await kit_client.post("/v1/notes", json={"text": "a"}, headers=a)).status_code == 201
    second = await kit_client.post("/v1/notes", json={"text": "b"}, headers=b)
    assert second.status_code == 201 and second.json()["text"] == "b"
    assert await count_notes(kit_app) == 2


async def test_pages_follow_next_cursor_and_link(kit_client, clock, tokens) -> None:
    headers = tokens.headers(**WRITE)
    for i in range(5):
        clock.advance(seconds=1)
        await kit_client.post("/v1/notes", json={"text": f"n{i}"}, headers=headers)
    seen, cursor, links = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await kit_client.get("/v1/notes", params=params, headers=headers)
        body = response.json()
        assert response.status_code == 200, body
        seen += [n["text"] for n in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            break
        links += 1
        assert 'rel="next"' in response.headers["link"]
    assert seen == ["n0", "n1", "n2", "n3", "n4"]
    assert links == 2


async def test_limit_is_capped_and_cursors_are_checked(kit_client, tokens) -> None:
    headers = tokens.headers(**WRITE)
    assert (await kit_client.get("/v1/notes", params={"limit": 501}, headers=headers)).status_code == 422
    tampered = await kit_client.get("/v1/notes", params={"cursor": "eyJrIjpbMV19"}, headers=headers)
    assert tampered.status_code == 422
    garbage = await kit_client.get("/v1/notes", params={"cursor": "!!!"}, headers=headers)
    assert garbage.status_code == 422


async def test_feed_returns_changes_in_order_and_resumes(kit_client, tokens) -> None:
    headers = tokens.headers(**WRITE)
    for i in range(3):
        await kit_client.post("/v1/notes", json={"text": f"c{i}"}, headers=headers)
    page = (await kit_client.get("/v1/notes/changes", params={"limit": 2}, headers=headers)).json()
    assert [n["text"] for n in page["items"]] == ["c0", "c1"] and page["has_more"] is True
    rest = (
        await kit_client.get("/v1/notes/changes", params={"cursor": page["next_cursor"]}, headers=headers)
    ).json()
    assert [n["text"] for n in rest["items"]] == ["c2"] and rest["has_more"] is False
    empty = (
        await kit_client.get("/v1/notes/changes", params={"cursor": rest["next_cursor"]}, headers=headers)
    ).json()
    assert empty["items"] == [] and empty["next_cursor"] == rest["next_cursor"] and empty["has_more"] is False


async def test_every_cursor_the_schema_allows_is_a_place_not_a_422(kit_client, kit_app, tokens) -> None:
    # The published schema is the promise: a list's cursor is any UUID, a feed's any number of up
    # to 18 digits. Each is answered 200 (a UUID that names no row: an empty last page).
    headers = tokens.headers(**WRITE)
    for i in range(3):
        await kit_client.post("/v1/notes", json={"text": f"p{i}"}, headers=headers)
    doc = kit_app.openapi()
    [list_cursor] = [p for p in doc["paths"]["/v1/notes"]["get"]["parameters"] if p["name"] == "cursor"]
    assert list_cursor["schema"]["anyOf"][0] == {"type": "string", "format": "uuid"}
    unknown = await kit_client.get("/v1/notes", params={"cursor": str(uuid.uuid4())}, headers=headers)
    assert unknown.status_code == 200, unknown.text
    assert unknown.json() == {"items": [], "next_cursor": None}
    first = await kit_client.get("/v1/notes", params={"cursor": ""}, headers=headers)
    assert sorted(n["text"] for n in first.json()["items"]) == ["p0", "p1", "p2"]
    [feed_cursor] = [
        p for p in doc["paths"]["/v1/notes/changes"]["get"]["parameters"] if p["name"] == "cursor"
    ]
    assert feed_cursor["schema"]["pattern"] == "^[0-9]{0,18}$"
    for cursor, texts in (("", ["p0", "p1", "p2"]), ("0", ["p0", "p1", "p2"]), ("2", ["p2"]), ("9" * 18, [])):
        page = await kit_client.get("/v1/notes/changes", params={"cursor": cursor}, headers=headers)
        assert page.status_code == 200, page.text
        assert [n["text"] for n in page.json()["items"]] == texts
    # A cursor given out before cursors were numbers (base64url JSON) is still read.
    legacy = await kit_client.get("/v1/notes/changes", params={"cursor": "eyJzZXEiOjJ9"}, headers=headers)
    assert [n["text"] for n in legacy.json()["items"]] == ["p2"] and legacy.json()["next_cursor"] == "3"
    for bad in ("-1", "1" * 19, "eyJzZXEiOi0xfQ", "x"):
        refused = await kit_client.get("/v1/notes/changes", params={"cursor": bad}, headers=headers)
        assert refused.status_code == 422, bad


async def test_every_change_is_audited_with_its_request_id(kit_client, kit_app, tokens) -> None:
    response = await kit_client.post(
        "/v1/notes",
        json={"text": "audited"},
        headers={**tokens.headers(subject="u1", **WRITE), "X-Request-ID": "req-77"},
    )
    async with kit_app.state.sessionmaker() as session:
        entry = (await session.scalars(select(AuditEntry))).one()
    assert entry.action == "note.created" and entry.actor == "user:u1"
    assert entry.request_id == "req-77" and entry.target_id == response.json()["id"]


async def audit_actions(app: FastAPI) -> list[AuditEntry]:
    async with app.state.sessionmaker() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.action)))


async def refusable(client: httpx.AsyncClient, headers: dict[str, str], refuse: str) -> httpx.Response:
    """A note created, audited, then refused as asked (raise, return, fail-commit, no)."""
    return await client.post(
        "/v1/notes/refusable", params={"refuse": refuse}, json={"text": "no thanks"}, headers=headers
    )


async def test_a_refusal_that_raises_keeps_its_audit_entry_and_nothing_else(
    kit_client, kit_app, tokens
) -> None:
    headers = {**tokens.headers(subject="u1", **WRITE), "X-Request-ID": "req-refused"}
    refused = await refusable(kit_client, headers, "raise")
    assert refused.status_code == 422 and refused.json()["type"].endswith("note-refused")
    assert await count_notes(kit_app) == 0  # the change was rolled back ...
    (entry,) = await audit_actions(kit_app)  # ... with its own audit entry; the refusal's is kept
    assert (entry.action, entry.actor, entry.request_id) == ("note.refused", "user:u1", "req-refused")
    assert entry.detail == {"text": "no thanks"} and entry.target_id is None  # nothing of the note


async def test_a_refusal_in_a_request_that_commits_is_written_once(kit_client, kit_app, tokens) -> None:
    assert (await refusable(kit_client, tokens.headers(**WRITE), "return")).status_code == 422
    assert [e.action for e in await audit_actions(kit_app)] == ["note.created", "note.refused"]
    assert (await refusable(kit_client, tokens.headers(**WRITE), "no")).status_code == 201
    actions = [e.action for e in await audit_actions(kit_app)]
    assert actions == ["note.created", "note.created", "note.refused"]


async def test_a_refusal_is_kept_when_the_commit_itself_fails(kit_client, kit_app, tokens) -> None:
    failed = await refusable(kit_client, tokens.headers(**WRITE), "fail-commit")
    assert failed.status_code == 409  # the duplicate key, found by the commit
    assert await count_notes(kit_app) == 0
    assert [e.action for e in await audit_actions(kit_app)] == ["note.refused"]


async def test_only_the_requests_session_keeps_a_refusal(kit_app) -> None:
    async with kit_app.state.sessionmaker() as session:
        with pytest.raises(RuntimeError, match="SessionDep"):
            await audit.record(session, actor="system", action="note.refused", survives_refusal=True)


async def test_times_come_back_aware_utc(kit_client, clock, tokens) -> None:
    created = (await kit_client.post("/v1/notes", json={"text": "t"}, headers=tokens.headers(**WRITE))).json()
    assert created["created_at"] == clock.now().isoformat().replace("+00:00", "Z") or created[
        "created_at"
    ].endswith(("Z", "+00:00"))
    assert created["created_at"].endswith(("Z", "+00:00"))


async def wait_for_lock_waiter(session) -> None:
    """Wait (on PostgreSQL's own report, not a timer) until a backend is blocked on a lock."""
    for _ in range(2000):
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        await session.rollback()
        if waiting:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no backend ever waited on the counter's lock")


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="concurrent writers need PostgreSQL")
async def test_feed_never_skips_a_change_committed_out_of_order(kit_database: str) -> None:
    """Writer A takes number 1 and commits late; B must wait, so a reader never passes A's change."""
    engine = create_engine(kit_database, pool_size=3)
    sessions = make_sessionmaker(engine)
    async with sessions() as a, sessions() as b, sessions() as reader:
        seq_a = await next_sequence(a, "race")
        b_task = asyncio.create_task(next_sequence(b, "race"))
        await wait_for_lock_waiter(reader)  # B is queued behind A's lock on the counter
        assert not b_task.done(), "B got a number while A's was uncommitted"
        await a.commit()
        seq_b = await b_task
        await b.commit()
    await engine.dispose()
    assert (seq_a, seq_b) == (1, 2)


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError, match="development secrets"):
        ServiceSettings(environment="production", feed_client_secret=SecretStr("dev-only-abc"))
    with pytest.raises(ValidationError, match="CORS"):
        ServiceSettings(environment="production", cors_origins=["*"])
    assert ServiceSettings(environment="production", feed_client_secret=SecretStr("k3Jd9-real")).is_production


async def test_readyz_and_metrics(kit_client: httpx.AsyncClient) -> None:
    assert (await kit_client.get("/readyz")).status_code == 200
    await kit_client.get("/livez")
    metrics = (await kit_client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/livez",service="service",status="200"}' in metrics


async def test_start_up_objects_are_frozen_out_of_the_collector_unless_turned_off(kit_database: str) -> None:
    for freeze in (False, True):
        settings = ServiceSettings(database_url=kit_database, environment="test", gc_freeze=freeze)
        app = create_app(settings, clock=FrozenClock(), key_source=StaticKeySource(lambda: []))
        gc.unfreeze()
        try:
            async with app.router.lifespan_context(app):
                assert (gc.get_freeze_count() > 0) is freeze
        finally:
            gc.unfreeze()
            await app.state.engine.dispose()
