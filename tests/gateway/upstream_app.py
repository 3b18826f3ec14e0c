"""A small service to stand behind the gateway in tests: it echoes what it received, counts requests,
serves a JWKS from a file (so a test can rotate keys), an OpenAPI document, large or held-open
streamed responses, and no response at all until released. It logs through servicekit's request context like every real service.

    UPSTREAM_NAME=incidents UPSTREAM_PREFIX=/v1/incidents uvicorn --factory tests.gateway.upstream_app:create_app
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

from starlette.types import Receive, Scope, Send

from servicekit.logs import configure_logging
from servicekit.middleware import Metrics, RequestContextMiddleware

CHUNK = b"x" * 65536


class Upstream:
    def __init__(self) -> None:
        self.name = os.environ.get("UPSTREAM_NAME", "upstream")
        self.prefix = os.environ.get("UPSTREAM_PREFIX", "/v1/" + self.name)
        self.jwks_file = os.environ.get("UPSTREAM_JWKS_FILE", "")
        self.count = 0
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if path in ("/livez", "/readyz"):
            return await _json(send, {"status": "ok"})
        if path == "/.well-known/jwks.json" and self.jwks_file:
            with open(self.jwks_file) as fh:  # noqa: ASYNC230 - a tiny local file, in a test app
                return await _json(send, json.load(fh))
        if path == "/openapi.json":
            return await _json(send, self.openapi())
        if path == "/control/count":
            return await _json(send, {"count": self.count})
        if path == "/control/release":
            self.release.set()
            return await _json(send, {"released": True})
        self.count += 1
        if path.endswith("/big"):
            return await self.big(scope, send)
        if path.endswith("/hold"):
            return await self.hold(send)
        if path.endswith("/stall"):  # says nothing at all until /control/release
            self.release.clear()
            await self.release.wait()
            return await _json(send, {"released": True})
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await _json(
            send,
            {
                "service": self.name,
                "method": scope["method"],
                "path": path,
                "raw_path": scope.get("raw_path", b"").decode("latin-1"),
                "query": scope["query_string"].decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            },
        )

    async def big(self, scope: Scope, send: Send) -> None:
        """`?size=N` bytes, streamed in 64 KiB chunks without a Content-Length (like a CSV export)."""
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        size = int(query.get("size", "1048576"))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]}
        )
        sent = 0
        while sent < size:
            chunk = CHUNK[: min(len(CHUNK), size - sent)]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
        await send({"type": "http.response.body", "body": b""})

    async def hold(self, send: Send) -> None:
        """Sends one chunk, then waits until /control/release before sending the rest."""
        self.release.clear()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"first-chunk;", "more_body": True})
        await self.release.wait()
        await send({"type": "http.response.body", "body": b"after-release"})

    def openapi(self) -> dict[str, Any]:
        item = {"type": "object", "properties": {f"{self.name}_field": {"type": "string"}}}
        ref = {"$ref": "#/components/schemas/Item"}
        return {
            "openapi": "3.1.0",
            "info": {"title": self.name, "version": "1"},
            "paths": {
                f"{self.prefix}/items": {
                    "get": {
                        "operationId": f"{self.name}_items",
                        "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
                        "security": [{"oauth2": [f"{self.name}:read"]}],
                    }
                },
                "/internal/replica/sync": {"post": {"responses": {"200": {}}}},
            },
            "components": {
                "schemas": {"Item": item, "Problem": {"type": "object", "title": "Problem"}},
                "securitySchemes": {
                    "oauth2": {
                        "type": "oauth2",
                        "flows": {
                            "clientCredentials": {
                                "tokenUrl": "/oauth/token",
                                "scopes": {f"{self.name}:read": "read"},
                            }
                        },
                    }
                },
            },
        }


async def _json(send: Send, body: Any, status: int = 200) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def create_app() -> RequestContextMiddleware:
    upstream = Upstream()
    configure_logging(upstream.name, "INFO")
    return RequestContextMiddleware(
        upstream, metrics=Metrics(upstream.name), max_body_bytes=512 * 1024 * 1024
    )
