"""The forwarding path alone, on three clients: the same minimal ASGI proxy on httpx, on aiohttp and
on the gateway's own upstream client (gateway/upstream.py).

PERFORMANCE.md ruled out httpx for the gateway (its pool, httpcore 1.0.9, cost milliseconds of CPU
per proxied request) and suggested aiohttp; measured here, aiohttp's client was still most of the
gateway's CPU, so the gateway has its own small client on httptools. `gateway_throughput.py
--transports` runs all three against the same backend, so the choice can be revisited when the
libraries change. BENCH_UPSTREAM is the backend's base URL.
"""

from __future__ import annotations

import os

import aiohttp
import httpx
from starlette.types import Receive, Scope, Send

from gateway.upstream import UpstreamPool

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


def upstream_app():
    pool = UpstreamPool(UPSTREAM, limit=256, connect_timeout=3)

    async def start() -> None:
        return None

    async def stop() -> None:
        pool.close()

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP]
        response = await pool.request(scope["method"], scope["raw_path"], headers, None, read_timeout=30)
        try:
            body = await response.read()
        finally:
            response.release()
        out = [(k, v) for k, v in response.raw_headers if k.lower() not in HOP]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    return _lifespan_app(start, stop, forward)
