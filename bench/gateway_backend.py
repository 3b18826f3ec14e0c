"""The bare backends the benchmarks compare with.

`create_app` is a FastAPI app shaped like the platform's services: `GET /v1/bench/hello` is an
`async def` endpoint returning a small model (PERFORMANCE.md's "FastAPI hello"), the endpoint the
gateway is compared on, direct and through it; `POST /v1/bare/checks` takes a consent check's body
and answers a small model (no token check, no database): bench/consent_check.py's baseline.
`create_asgi_app` answers the hello as a bare ASGI callable, as cheap as an answer gets
(`--backend asgi`: the gateway against the ceiling).
Both stream `GET /v1/bench/big?size=N` (N bytes, no Content-Length, like the CSV export) and serve
`/.well-known/jwks.json` from the file named by BENCH_JWKS_FILE.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

HELLO = b'{"status":"ok","items":[1,2,3]}'
CHUNK = b"x" * 65536


class Hello(BaseModel):
    status: str
    items: list[int]


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(max_length=20)
    media_type: str = Field(max_length=10)
    framing: str = Field(max_length=12)
    pupil_ids: list[uuid.UUID] = Field(max_length=200)


class CheckAnswer(BaseModel):
    decision: str
    count: int


def _jwks() -> dict[str, Any]:
    with open(os.environ["BENCH_JWKS_FILE"], "rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


async def _chunks(size: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        chunk = CHUNK[: min(len(CHUNK), size - sent)]
        yield chunk
        sent += len(chunk)


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    jwks = _jwks()

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.get("/v1/bench/hello")
    async def hello() -> Hello:
        return Hello(status="ok", items=[1, 2, 3])

    @app.post("/v1/bare/checks")
    async def check(body: CheckBody) -> CheckAnswer:
        return CheckAnswer(decision="allow", count=len(body.pupil_ids))

    @app.get("/v1/bench/big")
    async def big(size: int = 1048576) -> StreamingResponse:
        return StreamingResponse(_chunks(size), media_type="text/csv")

    return app


def create_asgi_app() -> Any:
    jwks = json.dumps(_jwks()).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path == "/.well-known/jwks.json":
            return await _send(send, jwks)
        if path.endswith("/big"):
            size = int(scope["query_string"].decode().partition("size=")[2] or 1048576)
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]}
            )
            async for chunk in _chunks(size):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await _send(send, HELLO)

    return app


async def _send(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
