"""The baseline for bench/consent_check.py: a bare FastAPI endpoint taking the check's body and
answering a small model (no token check, no database), plus the JWKS the bench's tokens verify with."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(max_length=20)
    media_type: str = Field(max_length=10)
    framing: str = Field(max_length=12)
    pupil_ids: list[uuid.UUID] = Field(max_length=200)


class Answer(BaseModel):
    decision: str
    count: int


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    with open(os.environ["BENCH_JWKS_FILE"], "rb") as fh:
        jwks: dict[str, Any] = json.load(fh)

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.post("/v1/bare/checks")
    async def check(body: Body) -> Answer:
        return Answer(decision="allow", count=len(body.pupil_ids))

    return app
