"""The gateway's app: `uvicorn --factory gateway.main:create_app --port 8000`.

A plain ASGI callable (no framework on the forwarding path): it runs the lifespan (the upstream
connection pools, the rate limiter, the first JWKS fetch) and hands each request to
the proxy, which answers the gateway's own few routes through a small Starlette app.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send

from gateway.auth import Authenticator
from gateway.breaker import CircuitBreaker
from gateway.config import GatewaySettings
from gateway.docs import missing_assets
from gateway.metrics import GatewayMetrics
from gateway.openapi import OpenAPICache
from gateway.proxy import Proxy
from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.routes import RouteTable, admin_app
from gateway.upstream import UpstreamPool
from servicekit.app import freeze_startup_objects
from servicekit.auth import JWKSKeySource, KeySource, TokenVerifier
from servicekit.clock import Clock, SystemClock
from servicekit.logs import configure_logging

log = logging.getLogger("gateway")


class Gateway:
    """The ASGI app uvicorn runs."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        clock: Clock,
        key_source: KeySource,
        limiter: RateLimiter | None,
        configure_logs: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.key_source = key_source
        self.limiter = limiter
        self.configure_logs = configure_logs
        self.routes = RouteTable(settings.upstreams)
        self.metrics = GatewayMetrics()
        self.breakers = {
            u.name: CircuitBreaker(
                u.name,
                failure_threshold=settings.breaker_failure_threshold,
                cooldown=settings.breaker_cooldown_seconds,
                clock=clock,
                on_change=self.metrics.breaker_open.labels(u.name).set,
            )
            for u in settings.upstreams
        }
        self.verifier = TokenVerifier(
            key_source, issuer=settings.issuer, audience=settings.audience, clock=clock
        )
        if settings.docs_on and (missing := missing_assets()):
            raise RuntimeError(
                f"GATEWAY_DOCS_ENABLED: the docs need Swagger UI's files ({', '.join(missing)}), installed "
                "by `python3 manage.py` from gateway/package-lock.json; the images do not carry them. "
                "Run that, or set GATEWAY_DOCS_ENABLED=false."
            )
        self.openapi = (
            OpenAPICache(
                settings.upstreams,
                self.routes,
                clock=clock,
                ttl=settings.openapi_cache_seconds,
                timeout=settings.readyz_timeout_seconds,
            )
            if settings.docs_on
            else None
        )
        self.pools = {
            u.name: UpstreamPool(
                u.url,
                limit=settings.pool_size,
                connect_timeout=settings.connect_timeout_seconds,
                share=settings.pool_share_per_client,
                wait_seconds=settings.pool_wait_seconds,
            )
            for u in settings.upstreams
        }
        admin, admin_paths = admin_app(
            upstreams=settings.upstreams,
            pools=self.pools,
            metrics=self.metrics,
            openapi=self.openapi,
            readyz_timeout=settings.readyz_timeout_seconds,
        )
        if not settings.metrics_enabled:
            admin_paths = admin_paths - {"/metrics"}
        self.proxy = Proxy(
            settings,
            routes=self.routes,
            pools=self.pools,
            authenticator=Authenticator(self.verifier),
            limiter=limiter,
            breakers=self.breakers,
            metrics=self.metrics,
            admin=admin,
            admin_paths=admin_paths,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Start and stop what the gateway holds open (tests enter it directly)."""
        if self.configure_logs:
            configure_logging(self.settings.service_name, self.settings.log_level)
        if isinstance(self.key_source, JWKSKeySource):
            # Fetch the keys now, so the first requests (and the refresh budget kept for unknown
            # kids) are not spent on it. Identity may not be up yet: then the first token fetches.
            try:
                await self.key_source.refresh()
            except Exception as exc:  # noqa: BLE001 - any failure: fetch on first use instead
                log.warning("JWKS not fetched at start: %s", type(exc).__name__)
        if self.settings.gc_freeze:
            freeze_startup_objects()
        try:
            yield
        finally:
            await self.proxy.stop()
            if self.limiter is not None:
                await self.limiter.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.proxy(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets: nothing behind the gateway speaks them
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        context = self.lifespan()
        try:
            await context.__aenter__()
        except Exception as exc:  # noqa: BLE001 - reported to the server, which stops
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await context.__aexit__(None, None, None)
        await send({"type": "lifespan.shutdown.complete"})


def create_app(
    settings: GatewaySettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
    limiter: RateLimiter | None = None,
    configure_logs: bool = True,
) -> Gateway:
    settings = settings or GatewaySettings()
    clock = clock or SystemClock()
    if limiter is None and settings.rate_limit_enabled:
        limiter = (
            RedisRateLimiter(
                settings.redis_url,
                settings.rate_limit_window_seconds,
                prefix=settings.redis_key_prefix,
                clock=clock,
            )
            if settings.redis_url
            else MemoryRateLimiter(settings.rate_limit_window_seconds, clock=clock)
        )
    return Gateway(
        settings,
        clock=clock,
        key_source=key_source or JWKSKeySource(settings.jwks_url, clock=clock),
        limiter=limiter,
        configure_logs=configure_logs,
    )
