"""The backend the gateway benchmarks forward to: as cheap as an ASGI app gets, so what is measured
is the gateway. `/v1/bench/hello` answers small JSON; `/v1/bench/big?size=N` streams N bytes;
`/.well-known/jwks.json` serves the JWKS in the file named by BENCH_JWKS_FILE."""

from __future__ import annotations

import os

from starlette.types import Receive, Scope, Send

HELLO = b'{"status":"ok","items":[1,2,3]}'
CHUNK = b"x" * 65536


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/.well-known/jwks.json":
        with open(os.environ["BENCH_JWKS_FILE"], "rb") as fh:  # noqa: ASYNC230 - once per run
            body = fh.read()
        return await _send(send, body)
    if path.endswith("/big"):
        size = int(scope["query_string"].decode().partition("size=")[2] or 1048576)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]}
        )
        sent = 0
        while sent < size:
            chunk = CHUNK[: min(len(CHUNK), size - sent)]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
        await send({"type": "http.response.body", "body": b""})
        return
    await _send(send, HELLO)


async def _send(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app():
    return app
