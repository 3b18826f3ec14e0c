"""The route table (path prefix → upstream) and the gateway's own routes: health, metrics, docs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Upstream
from gateway.docs import docs_routes
from gateway.upstream import UpstreamError, UpstreamPool
from servicekit.errors import problem_body

if TYPE_CHECKING:
    from gateway.metrics import GatewayMetrics
    from gateway.openapi import OpenAPICache


class RouteTable:
    """Longest matching prefix wins; a prefix matches whole path segments only; "/" matches the rest."""

    def __init__(self, upstreams: Sequence[Upstream]) -> None:
        pairs = [(prefix, u) for u in upstreams for prefix in u.prefixes]
        self._pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)

    def match(self, path: str) -> tuple[Upstream, str] | None:
        for prefix, upstream in self._pairs:
            if path.startswith(prefix) and (
                prefix == "/" or len(path) == len(prefix) or path[len(prefix)] == "/"
            ):
                return upstream, prefix
        return None


def _json(body: dict[str, Any], status: int = 200, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body), status_code=status, media_type=media_type)


def admin_app(
    *,
    upstreams: Sequence[Upstream],
    pools: dict[str, UpstreamPool],
    metrics: GatewayMetrics,
    openapi: OpenAPICache | None,
    readyz_timeout: float,
) -> tuple[Starlette, frozenset[str]]:
    """The gateway's own routes, and the set of paths they answer (the proxy sends those here)."""

    async def livez(_request: Request) -> Response:
        """The gateway process is up."""
        return _json({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        """The gateway can serve: 200 while any upstream answers its own /readyz, listing those
        that do not (`not_ready`); 503 only when none does.

        One service down must not take the gateway out of its load balancer: the others' routes
        go on (consent checks while identity is down), and the down service's routes answer 503
        from the gateway, as they would from any other replica of it.
        """

        async def check(upstream: Upstream) -> str:
            try:
                async with asyncio.timeout(readyz_timeout):
                    response = await pools[upstream.name].request(
                        "GET", b"/readyz", [], None, read_timeout=readyz_timeout
                    )
                    try:
                        await response.read()
                    finally:
                        response.release()
            except (UpstreamError, TimeoutError) as exc:
                return f"not ready: {type(exc).__name__}"
            return "ready" if response.status == 200 else f"not ready: status {response.status}"

        results = await asyncio.gather(*(check(u) for u in upstreams))
        states = {u.name: r for u, r in zip(upstreams, results, strict=True)}
        not_ready = sorted(name for name, state in states.items() if state != "ready")
        if upstreams and len(not_ready) == len(states):
            body = problem_body(
                503,
                f"Not ready: {', '.join(not_ready)}.",
                slug="not-ready",
                upstreams=states,
                not_ready=not_ready,
            )
            return _json(body, 503, "application/problem+json")
        return _json({"status": "ready", "upstreams": states, "not_ready": not_ready})

    async def metrics_route(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/livez", livez),
        Route("/readyz", readyz),
        Route("/metrics", metrics_route),
    ]
    if openapi is not None:
        merged = openapi

        async def openapi_json(_request: Request) -> Response:
            """The platform's API: every service's OpenAPI merged."""
            return _json(await merged.get())

        routes += [Route("/openapi.json", openapi_json), *docs_routes()]

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        body = problem_body(status, "This address does not take that method.", slug="method-not-allowed")
        return _json(body, status, "application/problem+json")

    paths = frozenset(route.path for route in routes)
    return Starlette(routes=routes, exception_handlers={HTTPException: on_http_error}), paths
