"""The forwarding path alone, on two clients: the same minimal ASGI proxy on httpx and on aiohttp.

PERFORMANCE.md chose aiohttp for the gateway because httpx's pool (httpcore 1.0.9) cost milliseconds
of CPU per proxied request. `gateway_throughput.py --transports` runs both against the same backend,
so the choice can be revisited when httpx changes. BENCH_UPSTREAM is the backend's base URL.
"""

from __future__ import annotations

import os

import aiohttp
import httpx
from starlette.types import Receive, Scope, Send

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9001")
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"host", b"date", b"server"}


def _lifespan_app(start, stop, forward):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await start()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await forward(scope, receive, send)

    return app


def httpx_app():
    state: dict[str, httpx.AsyncClient] = {}

    async def start() -> None:
        state["client"] = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256)
        )

    async def stop() -> None:
        await state["client"].aclose()

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP]
        response = await state["client"].request(scope["method"], UPSTREAM + scope["path"], headers=headers)
        out = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})

    return _lifespan_app(start, stop, forward)


def aiohttp_app():
    state: dict[str, aiohttp.ClientSession] = {}

    async def start() -> None:
        state["client"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
        )

    async def stop() -> None:
        await state["client"].close()

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in HOP]
        async with state["client"].request(scope["method"], UPSTREAM + scope["path"], headers=headers) as r:
            body = await r.read()
            out = [(k, v) for k, v in r.raw_headers if k.lower() not in HOP]
        await send({"type": "http.response.start", "status": r.status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    return _lifespan_app(start, stop, forward)
