"""The request's outer layer: request id, trace context, client address, body cap, metrics, access log.

A plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request). Its pieces
are plain functions and a small class, so the gateway's own ASGI app (gateway/proxy.py, on the
benchmarked hot path) uses the very same rules without a middleware layer: `request_ids` (the
request id and the W3C traceparent), `client_ip`, `declared_length` and `BodyCap` (the body cap),
`too_large_problem` and `send_problem` (the 413 both answer).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import client_ip_var, request_id_var, trace_id_var
from servicekit.errors import PROBLEM_JSON, problem_body
from servicekit.networks import LOOPBACK, Network, client_address

log = logging.getLogger("servicekit.access")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# W3C Trace Context, `traceparent`: version, trace id, parent id, flags, in lower-case hex.
TRACEPARENT_PATTERN = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# The trace id's place in a traceparent `traceparent()` made (always version 00).
TRACE_ID = slice(3, 35)
PROBLEM = PROBLEM_JSON.encode()


def request_ids(given_request_id: bytes | None, given_traceparent: bytes | None) -> tuple[str, str]:
    """This request's X-Request-ID and traceparent, from the caller's raw header values (or None).

    One call to the system's random source gives the fresh request id and the trace and span ids.
    """
    fresh = os.urandom(40).hex()
    return request_id(given_request_id, fresh[:32]), traceparent(given_traceparent, fresh[32:64], fresh[64:])


def request_id(given: bytes | None, fresh: str) -> str:
    """The caller's request id if well formed (`REQUEST_ID_PATTERN`), else `fresh`."""
    if given:
        text = given.decode("latin-1")
        if REQUEST_ID_PATTERN.match(text):
            return text
    return fresh


def traceparent(given: bytes | None, trace_id: str, span_id: str) -> str:
    """This hop's traceparent (W3C Trace Context): a valid incoming one's trace id and flags, with
    `span_id` as the parent id the next hop sees; else a new trace, `trace_id`, sampled.

    Valid: the four fields, version not `ff`, neither id all zeros. A later version is read as 00.
    """
    if given:
        match = TRACEPARENT_PATTERN.match(given.decode("latin-1").strip())
        if match and match.group(1) != "ff" and match.group(2) != "0" * 32 and match.group(3) != "0" * 16:
            return f"00-{match.group(2)}-{span_id}-{match.group(4)}"
    return f"00-{trace_id}-{span_id}-01"


def client_ip(scope: Scope, forwarded_for: bytes | None, trusted: tuple[Network, ...]) -> str | None:
    """The client's address (`networks.client_address`): the ASGI peer, or, from a trusted proxy,
    what `forwarded_for` names (every X-Forwarded-For line, in order, joined by commas)."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if forwarded_for is None:
        return peer
    return client_address(peer, forwarded_for.decode("latin-1"), trusted)


def declared_length(value: bytes | None) -> int | None:
    """The body length a Content-Length header declares, or None (no header, or not a number)."""
    return int(value) if value and value.isdigit() else None


class BodyTooLarge(Exception):
    """The request body went past its cap (413)."""


class BodyCap:
    """Counts a request body as it arrives: past `limit` bytes, `count` raises BodyTooLarge."""

    __slots__ = ("limit", "received")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.received = 0

    def count(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.limit:
            raise BodyTooLarge()

    @property
    def exceeded(self) -> bool:
        return self.received > self.limit


def too_large_problem(limit: int) -> dict[str, Any]:
    """The 413 problem for a body over `limit` bytes (the gateway's and every service's)."""
    return problem_body(413, f"The request body is larger than {limit} bytes.", slug="payload-too-large")


async def send_problem(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Answer with the problem `body` (RFC 9457) from plain ASGI code, with `headers` besides."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


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


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the header `name` (lower-case, as ASGI gives names)."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


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
        request_id, traceparent = request_ids(header(scope, b"x-request-id"), header(scope, b"traceparent"))
        trace_id = traceparent[TRACE_ID]
        # Every X-Forwarded-For line, in order (a proxy may add a line rather than extend one).
        forwarded = b",".join(value for key, value in scope.get("headers", ()) if key == b"x-forwarded-for")
        client = client_ip(scope, forwarded or None, self.trusted_proxies)
        tokens = (request_id_var.set(request_id), trace_id_var.set(trace_id), client_ip_var.set(client))
        scope.setdefault("state", {}).update(request_id=request_id, traceparent=traceparent)
        status = 500
        replaced = False
        cap = BodyCap(self.max_body_bytes)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and cap.exceeded:
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

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                cap.count(message.get("body", b""))
            return message

        try:
            length = declared_length(header(scope, b"content-length"))
            if length is not None and length > self.max_body_bytes:
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
                        "client_ip": client,
                    }
                },
            )
            for var, token in zip((request_id_var, trace_id_var, client_ip_var), tokens, strict=True):
                var.reset(token)

    async def _too_large(self, send: Send, request_id: str) -> None:
        await send_problem(
            send, 413, too_large_problem(self.max_body_bytes), [(b"x-request-id", request_id.encode())]
        )

    @staticmethod
    def _route(scope: Scope) -> str:
        route: Any = scope.get("route")
        path = getattr(route, "path", None)
        return str(path) if path else "unmatched"
