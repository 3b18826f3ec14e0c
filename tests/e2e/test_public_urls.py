"""Absolute URLs in responses (Link, Location, the OAuth metadata) name the gateway, through which
clients reach the platform, and never a service's own address (CONTRACT.md's conventions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.platform import RunningPlatform

pytestmark = pytest.mark.processes


def test_a_paged_lists_link_is_on_the_gateway_never_on_a_service(platform: RunningPlatform) -> None:
    """Attack surface: a Link to http://127.0.0.1:8001 (http://incidents:8002 in compose) tells every
    client the service's internal address, and a client following it goes round the gateway."""
    runner = platform.runner
    base = runner.url("gateway")
    school = platform.new_school()
    for _ in range(2):
        school.pupil()
    page = platform.gateway.get(
        "/v1/identity/people", params={"school_id": school.id, "limit": 1}, headers=platform.admin_headers
    )
    assert page.status_code == 200, page.text
    link = page.headers["link"]
    assert link.startswith(f"<{base}/v1/identity/people?"), link
    assert 'rel="next"' in link
    for service in runner.spec.services:
        assert f":{runner.port(service.name)}/" not in link, service.name
    # The link works, through the gateway.
    following = platform.gateway.get(link[1 : link.index(">")], headers=platform.admin_headers)
    assert following.status_code == 200
    assert following.json()["items"] and following.json()["items"] != page.json()["items"]


def test_a_created_incidents_location_is_on_the_gateway(platform: RunningPlatform) -> None:
    school = platform.new_school()
    pupil = school.pupil()
    school.sync()
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    body = {
        "category": "cyberbullying",
        "severity": "low",
        "occurred_at": when,
        "location": "on_site",
        "summary": "reported in a lesson",
        "people": [{"person_id": pupil["id"], "role": "affected"}],
    }
    created = platform.gateway.post("/v1/incidents", json=body, headers=school.headers("teacher"))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == f"{platform.runner.url('gateway')}/v1/incidents/{created.json()['id']}"
    assert platform.gateway.get(location, headers=school.headers("teacher")).status_code == 200


def test_the_oauth_metadata_names_the_gateways_endpoints(platform: RunningPlatform) -> None:
    meta = platform.gateway.get("/.well-known/oauth-authorization-server").json()
    base = platform.runner.url("gateway")
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
