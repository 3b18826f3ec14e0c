"""The minimal endpoint the consent check is held against (PERFORMANCE.md, "Aims that replace the
earlier consent-check ratio"): the same database work and nothing else.

`POST /v1/minimal/checks` takes a check's body, reads the same rows the check reads (the pupils,
their current consent, never-publish flags) with asyncpg, inserts one row, and signs one ES256 JWT
(the check's receipt). No token check of its own: it sits behind the same gateway, which checks
the token as it does for the service. Environment: BENCH_CHECK_DSN (the media-consent database,
asyncpg form: postgresql://...).

    uvicorn --factory bench.minimal_check:create_app --port 9000
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI

from bench.gateway_backend import CheckAnswer, CheckBody
from servicekit.jwt import SigningKey, generate_private_key_pem

READ_SQL = (
    "SELECT p.id, p.school_id, p.kind, p.is_on_roll, p.given_name, p.family_name,"
    " c.version, c.grants, c.withdrawn_purposes, c.valid_until, n.is_active FROM replica_person p"
    " LEFT OUTER JOIN consent_current c ON c.pupil_id = p.id"
    " LEFT OUTER JOIN never_publish n ON n.pupil_id = p.id WHERE p.id = ANY($1::uuid[])"
)
TABLE = "bench_minimal_receipt"


def create_app() -> FastAPI:
    key = SigningKey(generate_private_key_pem(), kid="bench-minimal")
    state: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(os.environ["BENCH_CHECK_DSN"], min_size=2, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY, school_id uuid,"
                " checked_at timestamptz NOT NULL, pupils int NOT NULL)"
            )
        state["pool"] = pool
        yield
        await pool.close()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/minimal/checks")
    async def check(body: CheckBody) -> CheckAnswer:
        now = datetime.now(UTC)
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(READ_SQL, body.pupil_ids)
            school = rows[0]["school_id"] if rows else None
            receipt = uuid.uuid4()
            await conn.execute(
                f"INSERT INTO {TABLE} (id, school_id, checked_at, pupils) VALUES ($1, $2, $3, $4)",
                receipt,
                school,
                now,
                len(rows),
            )
        key.sign({"jti": str(receipt), "iat": int(time.time()), "n": len(rows)}, typ="receipt+jwt")
        return CheckAnswer(decision="allow", count=len(rows))

    return app
