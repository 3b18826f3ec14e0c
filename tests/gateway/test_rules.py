"""Time-dependent and configuration rules, on a gateway in this process with a frozen clock
(upstreams are still real processes): breaker cool-down and half-open probe, rate-limit windows,
CORS, docs switches, public paths, who may read /metrics, and the settings validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory, free_port
from tests.gateway.conftest import Platform, start_upstream

pytestmark = pytest.mark.processes


async def test_breaker_half_open_probe_after_the_cooldown(
    in_process, platform: Platform, tokens: TokenFactory, clock: FrozenClock, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet
    upstreams = json.dumps(
        [
            {"name": "devices", "url": f"http://127.0.0.1:{port}", "prefixes": ["/v1/devices"]},
            {"name": "incidents", "url": platform.incidents.url, "prefixes": ["/v1/incidents"]},
        ]
    )
    async with in_process(upstreams, breaker_failure_threshold=2, breaker_cooldown_seconds=10) as (app, c):
        h = tokens.headers()
        assert [(await c.get("/v1/devices/x", headers=h)).status_code for _ in range(2)] == [503, 503]
        opened = await c.get("/v1/devices/x", headers=h)
        assert opened.json()["circuit"] == "open"
        assert opened.headers["retry-after"] == "10"
        assert (await c.get("/v1/incidents/x", headers=h)).status_code == 200

        clock.advance(seconds=11)  # cool-down over: one probe is let through; it fails
        probe = await c.get("/v1/devices/x", headers=h)
        assert probe.status_code == 503 and "circuit" not in probe.json()
        assert (await c.get("/v1/devices/x", headers=h)).json()["circuit"] == "open"

        devices = start_upstream("devices", "/v1/devices", tmp_path, port=port)
        try:
            assert (await c.get("/v1/devices/x", headers=h)).json()["circuit"] == "open"
            assert platform.count(devices) == 0
            clock.advance(seconds=11)
            recovered = await c.get("/v1/devices/x", headers=h)
            assert recovered.status_code == 200 and recovered.json()["service"] == "devices"
            assert (await c.get("/v1/devices/y", headers=h)).status_code == 200
            assert app.breakers["devices"].state == "closed"
        finally:
            devices.stop()


async def test_the_token_endpoint_is_limited_per_source_address(
    in_process, platform: Platform, clock: FrozenClock
) -> None:
    async with in_process(rate_limit_token_per_address=3) as (_app, c):
        before = platform.count(platform.identity)
        codes = [
            (await c.post("/oauth/token", data={"grant_type": "password"})).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        assert platform.count(platform.identity) == before + 3
        limited = await c.post("/oauth/token", data={"grant_type": "password"})
        assert limited.headers["content-type"] == "application/problem+json"
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 60
        # Other public routes are not counted against the token endpoint.
        assert (await c.get("/.well-known/jwks.json")).status_code == 200
        clock.advance(seconds=retry_after)
        assert (await c.post("/oauth/token", data={"grant_type": "password"})).status_code == 200


async def test_the_revocation_endpoint_is_limited_per_source_address_too(
    in_process, platform: Platform, clock: FrozenClock
) -> None:
    """Finding 8: /oauth/revoke has a flood guard of its own (its counter is not the token endpoint's)."""
    async with in_process(rate_limit_token_per_address=3) as (_app, c):
        assert (await c.post("/oauth/token", data={"grant_type": "password"})).status_code == 200
        codes = [(await c.post("/oauth/revoke", data={"token": "rt_x"})).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await c.post("/oauth/revoke", data={"token": "rt_x"})
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await c.post("/oauth/token", data={"grant_type": "password"})).status_code == 200


def test_the_token_endpoint_limit_is_a_flood_guard_by_default() -> None:
    """Finding 4: the default per-address limit is far above a school's (or an LA proxy's) burst."""
    settings = GatewaySettings()
    assert settings.rate_limit_token_per_address >= 3000
    assert {"/oauth/token", "/oauth/revoke"} <= set(settings.rate_limit_paths)


async def test_each_client_has_its_own_allowance(
    in_process, tokens: TokenFactory, clock: FrozenClock
) -> None:
    async with in_process(rate_limit_per_client=2) as (_app, c):
        mis = tokens.headers(client_id="mis")
        la = tokens.headers(client_id="la")
        person = "4c1e8a2e-0000-4000-8000-000000000001"
        # A person's tokens count by subject, so a fresh token does not reset the allowance.
        staff_1 = tokens.headers(subject=person, roles=["teacher"])
        staff_2 = tokens.headers(subject=person, roles=["teacher"])
        codes = [(await c.get("/v1/incidents/x", headers=mis)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert (await c.get("/v1/incidents/x", headers=la)).status_code == 200
        assert (await c.get("/v1/incidents/x", headers=staff_1)).status_code == 200
        assert (await c.get("/v1/incidents/x", headers=staff_2)).status_code == 200
        assert (await c.get("/v1/incidents/x", headers=staff_1)).status_code == 429
        clock.advance(seconds=60)
        assert (await c.get("/v1/incidents/x", headers=mis)).status_code == 200


async def test_an_expired_token_is_refused_even_after_it_was_cached(
    in_process, tokens: TokenFactory, clock: FrozenClock, platform: Platform
) -> None:
    async with in_process() as (_app, c):
        h = tokens.headers()
        assert (await c.get("/v1/incidents/x", headers=h)).status_code == 200
        clock.advance(minutes=11)
        before = platform.count(platform.incidents)
        assert (await c.get("/v1/incidents/x", headers=h)).status_code == 401
        assert platform.count(platform.incidents) == before


async def test_cors_allows_only_listed_origins(in_process, tokens: TokenFactory) -> None:
    async with in_process(cors_origins=["https://mle.school.example"]) as (_app, c):
        allowed = await c.get(
            "/v1/incidents/x", headers={**tokens.headers(), "Origin": "https://mle.school.example"}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://mle.school.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = await c.get("/v1/incidents/x", headers={**tokens.headers(), "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = await c.options(
            "/v1/incidents",
            headers={
                "Origin": "https://mle.school.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        refused = await c.options(
            "/v1/incidents",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert refused.status_code == 401  # not a preflight we answer: a request without a token


def test_settings_refuse_a_wildcard_origin_with_credentials() -> None:
    with pytest.raises(ValidationError, match="credentials"):
        GatewaySettings(cors_origins=["*"])
    assert GatewaySettings(cors_origins=["*"], cors_allow_credentials=False).cors_origins == ["*"]


def test_settings_read_the_upstream_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GATEWAY_UPSTREAMS",
        json.dumps(
            [
                {
                    "name": "devices",
                    "url": "http://127.0.0.1:8003/",
                    "prefixes": ["/v1/devices"],
                    "timeout_seconds": 5,
                },
            ]
        ),
    )
    monkeypatch.setenv("GATEWAY_PUBLIC_PATHS", json.dumps(["/oauth/token", "/v1/devices/public/*"]))
    settings = GatewaySettings()
    assert settings.upstreams[0].url == "http://127.0.0.1:8003"
    assert settings.upstreams[0].timeout_seconds == 5
    assert settings.public_paths == ["/oauth/token", "/v1/devices/public/*"]
    monkeypatch.setenv(
        "GATEWAY_UPSTREAMS",
        json.dumps(
            [
                {"name": "a", "url": "http://127.0.0.1:1", "prefixes": ["/v1/x"]},
                {"name": "b", "url": "http://127.0.0.1:2", "prefixes": ["/v1/x"]},
            ]
        ),
    )
    with pytest.raises(ValidationError, match="more than one upstream"):
        GatewaySettings()


def test_docs_are_off_by_default_in_production() -> None:
    assert GatewaySettings(environment="production").docs_on is False
    assert GatewaySettings(environment="development").docs_on is True
    assert GatewaySettings(environment="production", docs_enabled=True).docs_on is True


async def test_docs_can_be_turned_off(in_process) -> None:
    async with in_process(docs_enabled=False) as (_app, c):
        assert (await c.get("/openapi.json")).status_code == 404
        assert (await c.get("/docs")).status_code == 404
        assert (await c.get("/docs/assets/swagger-ui-bundle.js")).status_code == 404
        assert (await c.get("/livez")).status_code == 200


async def test_public_paths_are_configuration(in_process, platform: Platform) -> None:
    async with in_process(public_paths=["/oauth/token", "/v1/incidents/public/*"]) as (_app, c):
        assert (await c.get("/v1/incidents/public/notice")).status_code == 200
        assert (await c.get("/v1/incidents/private")).status_code == 401
        # No longer in the list: the JWKS now needs a token.
        assert (await c.get("/.well-known/jwks.json")).status_code == 401


async def test_the_consent_receipt_key_is_public_by_default(in_process, platform: Platform) -> None:
    upstreams = json.dumps(
        [
            {"name": "media_consent", "url": platform.incidents.url, "prefixes": ["/v1/media-consent"]},
        ]
    )
    async with in_process(upstreams) as (_app, c):
        assert (await c.get("/v1/media-consent/.well-known/jwks.json")).status_code == 200
        assert (await c.get("/v1/media-consent/checks")).status_code == 401


async def test_metrics_are_not_served_to_the_internet(in_process) -> None:
    async with in_process() as (_app, c):  # this client is 203.0.113.7, a public address
        assert (await c.get("/metrics")).status_code == 404
    async with in_process(metrics_scrapers="203.0.113.0/24") as (_app, c):
        assert (await c.get("/metrics")).status_code == 200
