"""The forwarding path: a plain ASGI app on the gateway's own upstream client (gateway/upstream.py;
PERFORMANCE.md: the framework-free proxy is what gets near the measured ceiling, and the client is
most of what is left: bench/gateway_throughput.py --transports compares it with aiohttp and httpx).

One pass over the request: caps (414, 431, 413), route by prefix (404), token (401), rate limit
(429), circuit breaker (503), then the request goes upstream with the client's identity and
forwarding headers replaced by the gateway's own, and the response streams back as it arrives.

Every wait on a client is bounded (SECURITY.md, "Addresses, proxies and limits"), so slow clients
cannot starve a service: the request body must keep arriving (`body_idle_timeout_seconds` between
pieces, `body_timeout_seconds` in all, else 408); a body is read up to `BUFFERED_BODY_BYTES` before
a connection to the service is taken, so a client that sends a few bytes of a large body holds no
connection; a client holds at most its share of a service's connections and waits a bounded time
for one (503 with Retry-After); and a client that stops reading a streamed response is cut off
after `send_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import Authenticator, PublicPaths
from gateway.breaker import Admission, CircuitBreaker
from gateway.config import GatewaySettings, Upstream
from gateway.metrics import GatewayMetrics
from gateway.quotas import quota_for
from gateway.ratelimit import RateLimiter
from gateway.routes import RouteTable
from gateway.upstream import (
    ConnectFailed,
    Disconnected,
    PoolBusy,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
)
from servicekit.context import client_ip_var, request_id_var, trace_id_var
from servicekit.errors import problem_body
from servicekit.middleware import (
    TRACE_ID,
    BodyCap,
    BodyTooLarge,
    client_ip,
    declared_length,
    request_ids,
    send_problem,
    too_large_problem,
)
from servicekit.networks import contains

log = logging.getLogger("gateway.access")

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded; nor are
# the ones the gateway sets itself, nor whatever a client claims about identity or forwarding.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
DROPPED_REQUEST = HOP_BY_HOP | frozenset(
    {
        b"host",
        b"content-length",
        b"expect",
        b"forwarded",
        b"x-real-ip",
        b"x-request-id",
        b"traceparent",
    }
)
DROPPED_REQUEST_PREFIXES = (b"x-user-", b"x-school-", b"x-forwarded-")
# The server in front of the client (uvicorn) adds its own date and server headers.
DROPPED_RESPONSE = HOP_BY_HOP | frozenset({b"date", b"server", b"x-request-id"})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# Bodies up to this size are read whole (cheaper, and a retry can resend them); larger ones stream,
# after this much of them has arrived (before that, the request holds no connection to the service).
BUFFERED_BODY_BYTES = 256 * 1024
# Responses up to this size are sent in one piece; larger or unsized ones stream.
BUFFERED_RESPONSE_BYTES = 256 * 1024
CORS_EXPOSED = b"ETag, Link, X-Request-ID, X-Next-Cursor, X-Has-More, Retry-After"


class BodyTimeout(Exception):
    """The client's body stopped arriving, or took too long in all (408). Not a TimeoutError,
    which is the service's."""


class ClientGone(Exception):
    """The client disconnected before its body was complete: nobody is left to answer."""


@dataclass(slots=True)
class Exchange:
    """What the gateway knows about one request while it handles it."""

    request_id: str
    traceparent: str
    client_ip: str
    route: str = "unmatched"
    status: int = 0
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # From the one pass over the request's headers in `Proxy.__call__`.
    host: bytes = b""
    content_length: bytes | None = None
    connection: bytes = b""
    preflight: bool = False
    chunked: bool = False
    body_limit: int = 0
    # loop.time() by which the whole request body must have arrived (set when it is first read).
    body_deadline: float = 0.0
    body_done: bool = False  # its last piece has been received


class Proxy:
    """The gateway's ASGI app for everything but its own few admin routes."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        routes: RouteTable,
        pools: dict[str, UpstreamPool],
        authenticator: Authenticator,
        limiter: RateLimiter | None,
        breakers: dict[str, CircuitBreaker],
        metrics: GatewayMetrics,
        admin: ASGIApp,
        admin_paths: frozenset[str],
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.authenticator = authenticator
        self.limiter = limiter
        self.breakers = breakers
        self.metrics = metrics
        self.admin = admin
        self.admin_paths = admin_paths
        self.public = PublicPaths(settings.public_paths)
        self.rate_limit_paths = frozenset(settings.rate_limit_paths)
        self.pools = pools
        self.trusted_proxies = settings.trusted_proxies
        self.cors_origins = frozenset(o.encode() for o in settings.cors_origins)
        self.cors_any = "*" in settings.cors_origins
        # Longest prefix first, as routes are matched.
        self.body_limits = sorted(settings.body_limits.items(), key=lambda item: len(item[0]), reverse=True)
        self.access_log = settings.access_log
        # Every path a quota covers starts with one of these (Quota.covers is the exact rule).
        self._quota_starts = tuple(
            start for q in settings.client_quotas for start in (q.prefix, q.prefix.rstrip("/") + "/")
        )
        self.access_log_slow = settings.access_log_slow_ms / 1000
        self.body_idle_timeout = settings.body_idle_timeout_seconds
        self.body_timeout = settings.body_timeout_seconds
        self.send_timeout = settings.send_timeout_seconds

    # --- lifecycle -------------------------------------------------------------------------------

    async def stop(self) -> None:
        for pool in self.pools.values():
            pool.close()

    # --- the request -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        given_id = given_trace = forwarded_for = None
        header_bytes = 0
        origin: bytes | None = None
        host = b""
        content_length: bytes | None = None
        connection = b""
        preflight = False
        chunked = False
        # One pass over the headers for everything the gateway reads from them.
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == b"host":
                host = value
            elif name == b"content-length":
                if content_length is None:
                    content_length = value
            elif name == b"x-request-id":
                given_id = value
            elif name == b"traceparent":
                given_trace = value
            elif name == b"origin":
                origin = value
            elif name == b"connection":
                connection = connection + b"," + value if connection else value
            elif name == b"x-forwarded-for":  # every line, in order: the walk starts at the right
                forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
            elif name == b"access-control-request-method":
                preflight = preflight or bool(value)
            elif name == b"transfer-encoding":
                chunked = True  # uvicorn accepts only chunked here; neither header: no body at all
        request_id, traceparent = request_ids(given_id, given_trace)
        exchange = Exchange(
            request_id=request_id,
            traceparent=traceparent,
            client_ip=client_ip(scope, forwarded_for, self.trusted_proxies) or "unknown",
            host=host,
            content_length=content_length,
            connection=connection,
            preflight=preflight,
            chunked=chunked,
        )
        tokens = (
            request_id_var.set(exchange.request_id),
            trace_id_var.set(exchange.traceparent[TRACE_ID]),
            client_ip_var.set(exchange.client_ip),
        )
        if origin is not None and self.cors_origins and (self.cors_any or origin in self.cors_origins):
            exchange.extra_headers = self._cors_headers(origin)
        try:
            await self._handle(scope, receive, send, exchange, header_bytes, origin)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(exchange.route, scope["method"], exchange.status, elapsed)
            if self._should_log(exchange.status, elapsed):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    exchange.status,
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": exchange.status,
                            "route": exchange.route,
                            "duration_ms": round(elapsed * 1000, 2),
                            "client_ip": exchange.client_ip,
                        }
                    },
                )
            request_id_var.reset(tokens[0])
            trace_id_var.reset(tokens[1])
            client_ip_var.reset(tokens[2])

    def _should_log(self, status: int, elapsed: float) -> bool:
        if self.access_log == "off" or not log.isEnabledFor(logging.INFO):
            return False
        return self.access_log == "all" or not 200 <= status < 400 or elapsed >= self.access_log_slow

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        ex: Exchange,
        header_bytes: int,
        origin: bytes | None,
    ) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if len(scope["query_string"]) > self.settings.max_query_length:
            return await self._problem(send, ex, 414, "The query string is too long.", "uri-too-long")
        if header_bytes > self.settings.max_header_bytes:
            return await self._problem(
                send, ex, 431, "The request headers are too large.", "headers-too-large"
            )
        if ex.extra_headers and method == "OPTIONS" and ex.preflight:
            return await self._preflight(send, ex)
        if path in self.admin_paths:
            ex.route = "gateway:" + path
            return await self._admin(scope, receive, send, ex)
        if _has_dot_segment(path):
            return await self._problem(send, ex, 404, "There is nothing at this address.", "not-found")
        target = self.routes.match(path)
        if target is None:
            return await self._problem(send, ex, 404, "There is nothing at this address.", "not-found")
        upstream, prefix = target
        ex.route = f"{upstream.name}:{prefix}"

        ex.body_limit = self._body_limit(path)
        length = declared_length(ex.content_length)
        if length is not None and length > ex.body_limit:
            if length <= _drain_limit(ex.body_limit):
                await self._drain(receive, ex)
            return await self._too_large(send, ex)

        principal = None
        if path not in self.public and not upstream.signs_in_itself:
            principal = await self.authenticator.principal(scope)
            if principal is None:
                return await self._problem(
                    send,
                    ex,
                    401,
                    "A valid access token is required.",
                    "unauthorized",
                    headers=[(b"www-authenticate", b'Bearer error="invalid_token"')],
                )
        if self.limiter is not None:
            limited = await self._rate_limit(path, principal, ex)
            if limited is not None:
                return await self._problem(
                    send,
                    ex,
                    429,
                    "Too many requests; try again later.",
                    "too-many-requests",
                    headers=[(b"retry-after", str(limited).encode())],
                )
        breaker = self.breakers[upstream.name]
        admission = breaker.admit()
        if admission is None:
            return await self._problem(
                send,
                ex,
                503,
                f"The {upstream.name} service is unavailable just now; try again shortly.",
                "service-unavailable",
                headers=[(b"retry-after", str(breaker.retry_after()).encode())],
                extra={"upstream": upstream.name, "circuit": "open"},
            )
        # One client's share of the service's connections: its token's client (or account), else
        # its address (a client id and an address that happen to be equal only share a budget).
        owner = (principal.client_id or principal.subject) if principal is not None else ex.client_ip
        # Whatever ends the exchange (an answer, a 413, a client gone or too slow, an exception),
        # leaving this block settles the admission: a half-open probe never waits on a lost report.
        with admission:
            await self._forward(scope, receive, send, ex, upstream, admission, method, length, owner)

    async def _rate_limit(self, path: str, principal: Any, ex: Exchange) -> int | None:
        assert self.limiter is not None
        s = self.settings
        if path in self.rate_limit_paths:
            decision = await self.limiter.hit(f"addr:{ex.client_ip}:{path}", s.rate_limit_token_per_address)
            if not decision.allowed:
                return decision.retry_after
        if principal is not None:
            who = principal.client_id or principal.subject
            decision = await self.limiter.hit(f"client:{who}", s.rate_limit_per_client)
            if not decision.allowed:
                return decision.retry_after
            # Most paths have no quota: one startswith over every quota's prefix rules them out.
            quota = quota_for(s.client_quotas, path) if path.startswith(self._quota_starts) else None
            if quota is not None:
                decision = await self.limiter.hit(f"quota:{quota.prefix}:{who}", quota.limit)
                if not decision.allowed:
                    return decision.retry_after
        return None

    # --- forwarding ------------------------------------------------------------------------------

    def _body_limit(self, path: str) -> int:
        for prefix, limit in self.body_limits:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return limit
        return self.settings.max_body_bytes

    def _upstream_headers(self, scope: Scope, ex: Exchange) -> list[tuple[bytes, bytes]]:
        """The client's headers (uvicorn gives names lower-cased) less the dropped ones, then the
        gateway's own. The body's framing headers are the upstream client's to write."""
        # Headers the client named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
        dropped = (
            DROPPED_REQUEST | {t.strip().lower() for t in ex.connection.split(b",")}
            if ex.connection
            else DROPPED_REQUEST
        )
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in dropped and not name.startswith(DROPPED_REQUEST_PREFIXES)
        ]
        headers.append((b"x-forwarded-for", ex.client_ip.encode("latin-1")))
        headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode("latin-1")))
        if ex.host:
            headers.append((b"x-forwarded-host", ex.host))
        headers.append((b"x-request-id", ex.request_id.encode("latin-1")))
        headers.append((b"traceparent", ex.traceparent.encode("latin-1")))
        return headers

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        ex: Exchange,
        upstream: Upstream,
        admission: Admission,
        method: str,
        length: int | None,
        owner: str,
    ) -> None:
        headers = self._upstream_headers(scope, ex)
        data: bytes | AsyncIterator[bytes] | None = None
        if length or (length is None and ex.chunked):
            # The body is read before a connection to the service is taken: whole when it is small
            # or of unknown length (chunked: so one over the cap never reaches a service), else its
            # first BUFFERED_BODY_BYTES, and the rest streams from there.
            whole = length is None or length <= BUFFERED_BODY_BYTES
            cap = BodyCap(ex.body_limit)
            try:
                first, complete = await self._read_body(
                    receive, ex, cap, None if whole else BUFFERED_BODY_BYTES
                )
            except BodyTooLarge:
                await self._drain(receive, ex)
                return await self._too_large(send, ex)
            except BodyTimeout:
                return await self._body_timeout(send, ex)
            except ClientGone:
                return
            if not complete:
                data = self._stream_body(first, receive, ex, cap)
            elif first or length is not None:
                data = first
        elif length == 0:
            data = b""
        # Forward the path as the client encoded it (some ASGI servers include the query in raw_path).
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.split(b"?", 1)[0]
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        pool = self.pools[upstream.name]
        # Only an idempotent request goes again, once, when the first try got no answer.
        attempts = 2 if method in IDEMPOTENT and not isinstance(data, AsyncIterator) else 1
        for attempt in range(attempts):
            try:
                response = await pool.request(
                    method, target, headers, data, read_timeout=upstream.timeout_seconds, owner=owner
                )
            except BodyTooLarge:
                await self._drain(receive, ex)
                return await self._too_large(send, ex)
            except BodyTimeout:
                return await self._body_timeout(send, ex)
            except ClientGone:
                return
            except PoolBusy as exc:
                log.warning("upstream %s: %s", upstream.name, exc)
                # A body still arriving would be left unread: end the connection with the answer.
                unread = [(b"connection", b"close")] if isinstance(data, AsyncIterator) else []
                return await self._problem(
                    send,
                    ex,
                    503,
                    f"The {upstream.name} service is busy just now; try again shortly.",
                    "service-unavailable",
                    headers=[(b"retry-after", b"1"), *unread],
                    extra={"upstream": upstream.name},
                )
            except (ConnectFailed, Disconnected) as exc:
                if attempt + 1 < attempts:
                    continue
                admission.failure()
                never_reached = isinstance(exc, ConnectFailed)
                log.warning("upstream %s: %s", upstream.name, exc)
                return await self._problem(
                    send,
                    ex,
                    503 if never_reached else 502,
                    f"The {upstream.name} service is unavailable just now; try again shortly."
                    if never_reached
                    else f"The {upstream.name} service closed the connection.",
                    "service-unavailable" if never_reached else "bad-gateway",
                    headers=[(b"retry-after", b"5")] if never_reached else [],
                    extra={"upstream": upstream.name},
                )
            except TimeoutError:
                admission.failure()
                log.warning("upstream %s: timed out", upstream.name)
                return await self._upstream_timeout(send, ex, upstream)
            except UpstreamError as exc:
                log.warning("upstream %s: %s", upstream.name, exc)
                return await self._bad_response(send, ex, upstream)
            break
        admission.success()
        try:
            await self._relay(response, receive, send, ex, upstream, method)
        finally:
            response.release()

    async def _relay(
        self,
        response: UpstreamResponse,
        receive: Receive,
        send: Send,
        ex: Exchange,
        upstream: Upstream,
        method: str,
    ) -> None:
        headers = [(k, v) for k, v in response.raw_headers if k.lower() not in DROPPED_RESPONSE]
        headers.append((b"x-request-id", ex.request_id.encode()))
        headers.extend(ex.extra_headers)
        length = response.content_length
        if method == "HEAD" or (length is not None and length <= BUFFERED_RESPONSE_BYTES):
            try:
                body = b"" if method == "HEAD" else await response.read()
            except TimeoutError:
                log.warning("upstream %s: timed out in the body", upstream.name)
                return await self._upstream_timeout(send, ex, upstream)
            except UpstreamError as exc:
                log.warning("upstream %s: %s", upstream.name, exc)
                return await self._bad_response(send, ex, upstream)
            # The service's part is over: its connection goes back before the client is written to.
            response.release()
            ex.status = response.status
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        ex.status = response.status
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        # uvicorn drops writes to a client that went away; watch for it so a large download stops
        # being read from the service as soon as nobody is receiving it.
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone))
        try:
            async for chunk in response.iter_chunks():
                if gone.is_set():
                    return
                if not await self._send_within(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}
                ):
                    return await self._cut_off(send, gone, upstream)
            if not await self._send_within(send, {"type": "http.response.body", "body": b""}):
                return await self._cut_off(send, gone, upstream)
        except (UpstreamError, TimeoutError) as exc:
            # The response has started: all that is left is to end the connection, so the client
            # sees a truncated body rather than a complete-looking one.
            log.warning("upstream response broke off: %s", type(exc).__name__)
            raise
        finally:
            watcher.cancel()

    async def _send_within(self, send: Send, message: Message) -> bool:
        """Send `message`; False if the client has not taken it within `send_timeout_seconds`
        (uvicorn's send waits while the client's socket buffer is full)."""
        try:
            async with asyncio.timeout(self.send_timeout):
                await send(message)
        except TimeoutError:
            return False
        return True

    async def _cut_off(self, send: Send, gone: asyncio.Event, upstream: Upstream) -> None:
        """End a response the client stopped reading. uvicorn's `send` is a method of its request
        cycle, which holds the client's transport: aborting it drops what is buffered and frees the
        socket at once (closing would wait for a reader who never comes); then wait (bounded) for
        the server to see the connection gone. With another server, returning lets it close."""
        log.warning("client stopped reading a response from %s: cut off", upstream.name)
        abort = getattr(getattr(getattr(send, "__self__", None), "transport", None), "abort", None)
        if callable(abort):
            abort()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.send_timeout):
                    await gone.wait()

    async def _upstream_timeout(self, send: Send, ex: Exchange, upstream: Upstream) -> None:
        await self._problem(
            send,
            ex,
            504,
            f"The {upstream.name} service did not answer in time.",
            "gateway-timeout",
            extra={"upstream": upstream.name},
        )

    async def _bad_response(self, send: Send, ex: Exchange, upstream: Upstream) -> None:
        await self._problem(
            send,
            ex,
            502,
            f"The {upstream.name} service sent an invalid response.",
            "bad-gateway",
            extra={"upstream": upstream.name},
        )

    async def _body_timeout(self, send: Send, ex: Exchange) -> None:
        await self._problem(
            send,
            ex,
            408,
            "The request body did not arrive in time.",
            "request-timeout",
            headers=[(b"connection", b"close")],
        )

    # --- the client's body -----------------------------------------------------------------------

    async def _receive(self, receive: Receive, ex: Exchange) -> Message:
        """The next piece of the request body: within `body_idle_timeout_seconds`, and before the
        body's deadline (`body_timeout_seconds` after it was first read), else BodyTimeout."""
        now = asyncio.get_running_loop().time()
        if not ex.body_deadline:
            ex.body_deadline = now + self.body_timeout
        try:
            async with asyncio.timeout_at(min(now + self.body_idle_timeout, ex.body_deadline)):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout() from None
        if message["type"] != "http.request":
            raise ClientGone()
        if not message.get("more_body", False):
            ex.body_done = True
        return message

    async def _read_body(
        self, receive: Receive, ex: Exchange, cap: BodyCap, enough: int | None
    ) -> tuple[bytes, bool]:
        """The body, and True, once it is complete; or, when `enough` bytes have arrived first,
        what has arrived, and False (the rest is still to be received)."""
        chunks: list[bytes] = []
        while True:
            message = await self._receive(receive, ex)
            chunk = message.get("body", b"")
            if chunk:
                cap.count(chunk)
                chunks.append(chunk)
            more = message.get("more_body", False)
            if not more or (enough is not None and cap.received >= enough):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks), not more

    async def _stream_body(
        self, first: bytes, receive: Receive, ex: Exchange, cap: BodyCap
    ) -> AsyncIterator[bytes]:
        """The body for the service: what was read before the connection was taken (`cap` has
        counted it), then the rest as it arrives (each wait bounded as in `_receive`)."""
        yield first
        while True:
            message = await self._receive(receive, ex)
            chunk = message.get("body", b"")
            cap.count(chunk)
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def _drain(self, receive: Receive, ex: Exchange) -> None:
        """Read and drop the rest of a refused body (up to a bound, each wait bounded), so the
        client, which is often still sending, can read the 413 instead of finding the connection
        reset."""
        drained = 0
        limit = _drain_limit(ex.body_limit)
        while drained <= limit and not ex.body_done:
            try:
                message = await self._receive(receive, ex)
            except (BodyTimeout, ClientGone):
                return
            drained += len(message.get("body", b""))

    # --- the gateway's own answers ---------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send, ex: Exchange) -> None:
        if scope["path"] == "/metrics" and not contains(self.settings.metrics_scrapers, ex.client_ip):
            return await self._problem(send, ex, 404, "There is nothing at this address.", "not-found")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                ex.status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", ex.request_id.encode()))
                headers.extend(ex.extra_headers)
                message = {**message, "headers": headers}
            await send(message)

        await self.admin(scope, receive, send_with_id)

    async def _problem(
        self,
        send: Send,
        ex: Exchange,
        status: int,
        detail: str,
        slug: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        ex.status = status
        await send_problem(
            send,
            status,
            problem_body(status, detail, slug=slug, **(extra or {})),
            [(b"x-request-id", ex.request_id.encode()), *(headers or []), *ex.extra_headers],
        )

    async def _too_large(self, send: Send, ex: Exchange) -> None:
        ex.status = 413
        await send_problem(
            send,
            413,
            too_large_problem(ex.body_limit or self.settings.max_body_bytes),
            [(b"x-request-id", ex.request_id.encode()), (b"connection", b"close"), *ex.extra_headers],
        )

    def _cors_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", CORS_EXPOSED),
        ]
        if self.settings.cors_allow_credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    async def _preflight(self, send: Send, ex: Exchange) -> None:
        ex.status = 204
        ex.route = "gateway:preflight"
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    *ex.extra_headers,
                    (b"access-control-allow-methods", b"GET, POST, PATCH, PUT, DELETE, OPTIONS"),
                    (
                        b"access-control-allow-headers",
                        b"Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-ID, traceparent",
                    ),
                    (b"access-control-max-age", b"600"),
                    (b"x-request-id", ex.request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def _drain_limit(body_limit: int) -> int:
    return max(4 * body_limit, 8 * 1024 * 1024)


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(part in (".", "..") for part in path.split("/"))
