"""The request's outer layer: request id, trace context, client address, body cap, metrics, access log.

A plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import client_ip_var, request_id_var, trace_id_var
from servicekit.errors import problem_body
from servicekit.networks import LOOPBACK, Network, client_address

log = logging.getLogger("servicekit.access")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TRACEPARENT_PATTERN = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class Metrics:
    """Per-app Prometheus metrics (a registry of its own, so several apps can share a process)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "Requests served",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to serve a request",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service = service


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        trusted_proxies: tuple[Network, ...] = LOOPBACK,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = header(scope, b"x-request-id")
        request_id = given if given and REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
        match = TRACEPARENT_PATTERN.match(header(scope, b"traceparent") or "")
        traceparent = match.group(0) if match else new_traceparent()
        trace_id = traceparent.split("-")[1]
        client_ip = self._client_ip(scope)
        tokens = (request_id_var.set(request_id), trace_id_var.set(trace_id), client_ip_var.set(client_ip))
        scope.setdefault("state", {}).update(request_id=request_id, traceparent=traceparent)
        status = 500
        too_large = False
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and too_large:
                # The app failed reading an over-long body (it may answer 400): answer 413 instead.
                replaced = True
                status = 413
                await self._too_large(send, request_id)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        try:
            length = header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                status = 413
                await self._too_large(send, request_id)
            else:
                try:
                    await self.app(scope, receive_wrapper, send_wrapper)
                except BodyTooLarge:
                    if not replaced:
                        status = 413
                        replaced = True
                        await self._too_large(send, request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self._route(scope)
            method = scope["method"]
            self.metrics.requests.labels(self.metrics.service, method, route, str(status)).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "fields": {
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_ip": client_ip,
                    }
                },
            )
            for var, token in zip((request_id_var, trace_id_var, client_ip_var), tokens, strict=True):
                var.reset(token)

    async def _too_large(self, send: Send, request_id: str) -> None:
        body = problem_body(
            413, f"The request body is larger than {self.max_body_bytes} bytes.", slug="payload-too-large"
        )
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _client_ip(self, scope: Scope) -> str | None:
        client = scope.get("client")
        peer = str(client[0]) if client else None
        # Every X-Forwarded-For line, in order (a proxy may add a line rather than extend one).
        forwarded = ",".join(
            value.decode("latin-1") for key, value in scope.get("headers", ()) if key == b"x-forwarded-for"
        )
        return client_address(peer, forwarded, self.trusted_proxies)

    @staticmethod
    def _route(scope: Scope) -> str:
        route: Any = scope.get("route")
        path = getattr(route, "path", None)
        return str(path) if path else "unmatched"
