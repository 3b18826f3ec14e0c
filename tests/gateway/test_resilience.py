"""A service that dies: 503 from the gateway, fast once the breaker is open, while the others go on
answering; a service that does not answer in time: 504; rate limits shared by two gateway replicas
through Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from servicekit.testing import ServiceProcess, TokenFactory
from tests.gateway.conftest import Platform, start_gateway, start_upstream, upstream_list

pytestmark = pytest.mark.processes


async def test_a_killed_service_gives_503_and_the_breaker_stops_trying(
    tmp_path: Path, platform: Platform, live_tokens: TokenFactory
) -> None:
    incidents = start_upstream("incidents", "/v1/incidents", tmp_path)
    devices = start_upstream("devices", "/v1/devices", tmp_path)
    procs = {"incidents": (incidents, ["/v1/incidents"]), "devices": (devices, ["/v1/devices"])}
    gateway = start_gateway(
        "gw-breaker",
        tmp_path,
        {
            "GATEWAY_UPSTREAMS": upstream_list(procs),
            "PLATFORM_JWKS_URL": f"{platform.identity.url}/.well-known/jwks.json",
            "GATEWAY_BREAKER_FAILURE_THRESHOLD": "2",
            "GATEWAY_BREAKER_COOLDOWN_SECONDS": "600",
        },
    )
    restarted: ServiceProcess | None = None
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=live_tokens.headers()) as c:
            assert (await c.get("/v1/incidents/x")).status_code == 200  # a pooled connection now exists
            incidents.stop(kill=True)  # kill -9

            first = await c.get("/v1/incidents/x")
            assert first.status_code == 503
            assert first.headers["content-type"] == "application/problem+json"
            assert first.json()["upstream"] == "incidents"
            assert "retry-after" in first.headers
            second = await c.get("/v1/incidents/x")
            assert second.status_code == 503
            # Threshold reached: the breaker is open and answers without trying the service.
            third = await c.get("/v1/incidents/x")
            assert third.status_code == 503
            assert third.json()["circuit"] == "open"
            # The other service is unaffected.
            assert (await c.get("/v1/devices/x")).json()["service"] == "devices"

            # One service down does not take the gateway out of its load balancer.
            ready = await c.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["not_ready"] == ["incidents"]

            # The service comes back on its port; during the cool-down, the gateway does not try it.
            restarted = start_upstream("incidents", "/v1/incidents", tmp_path, port=incidents.port)
            still_open = await c.get("/v1/incidents/x")
            assert still_open.status_code == 503 and still_open.json()["circuit"] == "open"
            assert platform.count(restarted) == 0
            metrics = (await c.get("/metrics")).text
            assert 'gateway_circuit_open{upstream="incidents"} 1.0' in metrics
    finally:
        for proc in (gateway, devices, incidents, restarted):
            if proc is not None:
                proc.stop()


async def test_a_service_that_does_not_answer_in_time_gives_504_and_the_others_go_on(
    tmp_path: Path, platform: Platform, live_tokens: TokenFactory
) -> None:
    slow = start_upstream("incidents", "/v1/incidents", tmp_path)
    devices = start_upstream("devices", "/v1/devices", tmp_path)
    upstreams = json.loads(upstream_list({"incidents": (slow, ["/v1/incidents"])}, timeout_seconds=0.3))
    upstreams += json.loads(upstream_list({"devices": (devices, ["/v1/devices"])}))
    gateway = start_gateway(
        "gw-timeout",
        tmp_path,
        {
            "GATEWAY_UPSTREAMS": json.dumps(upstreams),
            "PLATFORM_JWKS_URL": f"{platform.identity.url}/.well-known/jwks.json",
        },
    )
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30, headers=live_tokens.headers()) as c:
            stalled = await c.post("/v1/incidents/stall", json={})
            assert stalled.status_code == 504
            assert stalled.headers["content-type"] == "application/problem+json"
            assert stalled.json()["upstream"] == "incidents"
            assert (await c.get("/v1/devices/x")).json()["service"] == "devices"
            await c.get(f"{slow.url}/control/release")
            # The timed-out connection was dropped; the next request gets a fresh one and an answer.
            assert (await c.get("/v1/incidents/x")).json()["service"] == "incidents"
    finally:
        for proc in (gateway, devices, slow):
            proc.stop()


async def test_two_gateways_share_the_rate_limit_through_redis(
    tmp_path: Path, platform: Platform, live_tokens: TokenFactory
) -> None:
    prefix = f"test-gw-{uuid.uuid4().hex[:8]}:"
    env = {
        "GATEWAY_UPSTREAMS": upstream_list(platform.upstreams),
        "PLATFORM_JWKS_URL": f"{platform.identity.url}/.well-known/jwks.json",
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEWAY_REDIS_KEY_PREFIX": prefix,
        "GATEWAY_RATE_LIMIT_PER_CLIENT": "4",
        # A day-long window, so the test never straddles two windows.
        "GATEWAY_RATE_LIMIT_WINDOW_SECONDS": "86400",
    }
    a = start_gateway("gw-a", tmp_path, env)
    b = start_gateway("gw-b", tmp_path, env)
    try:
        mis = live_tokens.headers(client_id="mis-client", scopes=["phones:read"])
        other = live_tokens.headers(client_id="la-client", scopes=["incidents:export"])
        async with httpx.AsyncClient(timeout=30) as c:
            statuses = []
            for gw in (a, b, a, b):
                statuses.append((await c.get(f"{gw.url}/v1/incidents/x", headers=mis)).status_code)
            assert statuses == [200, 200, 200, 200]
            limited = await c.get(f"{b.url}/v1/incidents/x", headers=mis)
            assert limited.status_code == 429
            assert limited.headers["content-type"] == "application/problem+json"
            assert int(limited.headers["retry-after"]) >= 1
            assert (await c.get(f"{a.url}/v1/incidents/x", headers=mis)).status_code == 429
            # Another client has its own allowance.
            assert (await c.get(f"{a.url}/v1/incidents/x", headers=other)).status_code == 200
    finally:
        a.stop()
        b.stop()
        r = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(r.scan_iter(match=prefix + "*"))
        assert keys  # the counters were in Redis
        r.delete(*keys)
        r.close()
