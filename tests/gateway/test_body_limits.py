"""Per-route body caps: media-consent's scans take images up to 12 MiB through the gateway, while
every other route keeps the 1 MiB cap, and `GATEWAY_BODY_LIMITS` is checked at start."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from servicekit.testing import TokenFactory
from tests.gateway.conftest import Platform

pytestmark = pytest.mark.processes

FIVE_MIB = 5 * 1024 * 1024


def media_consent_upstreams(platform: Platform) -> str:
    # The echo upstream stands in for media-consent: it reports the body it received.
    return json.dumps(
        [
            {"name": "media-consent", "url": platform.incidents.url, "prefixes": ["/v1/media-consent"]},
            {"name": "incidents", "url": platform.incidents.url, "prefixes": ["/v1/incidents"]},
        ]
    )


async def test_a_5_mib_scan_passes_the_gateway_and_5_mib_elsewhere_is_413(
    in_process, platform: Platform, tokens: TokenFactory
) -> None:
    image = bytes(range(256)) * (FIVE_MIB // 256)
    h = {**tokens.headers(), "Content-Type": "image/jpeg"}
    async with in_process(media_consent_upstreams(platform)) as (_app, c):
        before = platform.count(platform.incidents)
        scan = await c.post("/v1/media-consent/media-scans", content=image, headers=h)
        assert scan.status_code == 200
        assert scan.json()["body_length"] == FIVE_MIB
        assert scan.json()["body_sha256"] == hashlib.sha256(image).hexdigest()
        assert platform.count(platform.incidents) == before + 1

        for path in (
            "/v1/media-consent/checks",
            "/v1/incidents",
            # A prefix matches whole segments: a look-alike path does not get the larger cap.
            "/v1/media-consent/media-scans-bulk",
        ):
            refused = await c.post(path, content=image, headers=h)
            assert refused.status_code == 413, path
            assert refused.headers["content-type"] == "application/problem+json"
            assert "1048576 bytes" in refused.json()["detail"]
        assert platform.count(platform.incidents) == before + 1


async def test_a_scan_over_its_own_cap_is_413(in_process, platform: Platform, tokens: TokenFactory) -> None:
    async with in_process(media_consent_upstreams(platform)) as (_app, c):
        before = platform.count(platform.incidents)
        too_big = await c.post(
            "/v1/media-consent/media-scans", content=b"x" * (12_582_912 + 1), headers=tokens.headers()
        )
        assert too_big.status_code == 413
        assert "12582912 bytes" in too_big.json()["detail"]
        assert platform.count(platform.incidents) == before


async def test_body_limits_are_configurable(in_process, platform: Platform, tokens: TokenFactory) -> None:
    limits = {"/v1/incidents/attachments": 2 * 1024 * 1024}
    async with in_process(media_consent_upstreams(platform), body_limits=limits) as (_app, c):
        body = b"a" * (1024 * 1024 + 10)
        attached = await c.post("/v1/incidents/attachments/1", content=body, headers=tokens.headers())
        assert attached.status_code == 200
        assert attached.json()["body_length"] == len(body)
        # Setting the limits replaces the defaults.
        scan = await c.post("/v1/media-consent/media-scans", content=body, headers=tokens.headers())
        assert scan.status_code == 413


@pytest.mark.parametrize(
    "limits",
    [
        {"v1/no-slash": 10},
        {"/v1/trailing/": 10},
        {"/v1/zero": 0},
        {"/v1/huge": (1 << 30) + 1},
    ],
)
def test_bad_body_limits_are_refused_at_start(limits: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(environment="test", body_limits=limits)


def test_body_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_BODY_LIMITS", json.dumps({"/v1/media-consent/media-scans": 20_000_000}))
    assert GatewaySettings(environment="test").body_limits == {"/v1/media-consent/media-scans": 20_000_000}
    monkeypatch.delenv("GATEWAY_BODY_LIMITS")
    assert GatewaySettings(environment="test").body_limits["/v1/media-consent/media-scans"] == 12_582_912
