"""Through a real gateway process to real upstream processes: routing, what is forwarded, what is
stripped, request ids and trace context, and the caps."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re

import httpx
import pytest

from servicekit.testing import TokenFactory
from tests.gateway.conftest import Platform

pytestmark = pytest.mark.processes


def echo_headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


async def test_a_token_reaches_the_service_with_method_path_query_body_and_authorization(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    headers = live_tokens.headers(scopes=["people:read"])
    body = b'{"given_name": "Ada"}'
    response = await client.post(
        "/v1/identity/people/a%2Fb?external_ref=X123&limit=5",
        content=body,
        headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "k-1"},
    )
    assert response.status_code == 200
    echo = response.json()
    assert echo["service"] == "identity"
    assert echo["method"] == "POST"
    assert echo["raw_path"] == "/v1/identity/people/a%2Fb"
    assert echo["query"] == "external_ref=X123&limit=5"
    assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    seen = echo_headers(response)
    assert seen["authorization"] == [headers["Authorization"]]
    assert seen["content-type"] == ["application/json"]
    assert seen["idempotency-key"] == ["k-1"]


async def test_each_prefix_goes_to_its_own_service(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    headers = live_tokens.headers()
    incidents = await client.get("/v1/incidents/export", headers=headers)
    identity = await client.get("/v1/identity", headers=headers)
    assert incidents.json()["service"] == "incidents"
    assert identity.json()["service"] == "identity"


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/v1/incidentsX",  # a prefix matches whole segments only
        "/internal/replica/sync",  # services' operations routes are not behind the gateway
        "/v1/incidents/%2e%2e/identity",
    ],
)
async def test_unknown_paths_are_404_problems_and_reach_no_service(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory, path: str
) -> None:
    before = platform.count(platform.incidents), platform.count(platform.identity)
    response = await client.get(path, headers=live_tokens.headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert (platform.count(platform.incidents), platform.count(platform.identity)) == before


async def test_a_dot_segment_path_sent_raw_is_404(platform: Platform, live_tokens: TokenFactory) -> None:
    # httpx would normalise the path; a hostile client sends the bytes as they are.
    before = platform.count(platform.identity)
    reader, writer = await asyncio.open_connection("127.0.0.1", platform.gateway.port)
    token = live_tokens.token()
    writer.write(
        b"GET /v1/incidents/../identity/people HTTP/1.1\r\nHost: gw\r\n"
        + f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 404")
    assert platform.count(platform.identity) == before


async def test_public_routes_need_no_token(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"]
    token = await client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert token.status_code == 200
    assert token.json()["path"] == "/oauth/token"


async def test_client_identity_and_forwarding_headers_are_replaced(
    platform: Platform, live_tokens: TokenFactory
) -> None:
    # From 127.0.0.3: not a trusted proxy (PLATFORM_TRUSTED_PROXIES is loopback's 127.0.0.1 here).
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with httpx.AsyncClient(base_url=platform.gateway.url, transport=transport, timeout=30) as client:
        await _identity_and_forwarding_headers_are_replaced(client, live_tokens)


async def _identity_and_forwarding_headers_are_replaced(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    sent = {
        "X-User-Id": "admin",
        "X-User-Roles": "platform_admin",
        "X-School-Id": "00000000-0000-0000-0000-000000000001",
        "X-Forwarded-For": "10.9.9.9",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "Forwarded": "for=10.9.9.9;proto=https",
        "X-Real-IP": "10.9.9.9",
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "hop",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Kept": "yes",
    }
    response = await client.get("/v1/incidents/x", headers={**sent, **live_tokens.headers()})
    seen = echo_headers(response)
    for name in (
        "x-user-id",
        "x-user-roles",
        "x-school-id",
        "forwarded",
        "x-real-ip",
        "x-secret-hop",
        "keep-alive",
        "proxy-authorization",
    ):
        assert name not in seen, name
    assert seen["x-forwarded-for"] == ["127.0.0.3"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [client.base_url.netloc.decode()]
    assert seen["x-kept"] == ["yes"]


async def test_behind_a_trusted_proxy_the_service_gets_the_client_the_proxy_named(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    """This client is 127.0.0.1, a trusted proxy by default (a TLS terminator on the same host): the
    right-most address it names is the client, and the service gets that one address only."""
    headers = {"X-Forwarded-For": "10.9.9.9, 198.51.100.7", **live_tokens.headers()}
    seen = echo_headers(await client.get("/v1/incidents/x", headers=headers))
    assert seen["x-forwarded-for"] == ["198.51.100.7"]


async def test_request_id_and_traceparent_reach_the_service_and_its_logs(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    response = await client.get(
        "/v1/incidents/traced",
        headers={
            **live_tokens.headers(),
            "X-Request-ID": "mis-sync-0042",
            "traceparent": f"00-{trace_id}-{parent}-01",
        },
    )
    assert response.headers["x-request-id"] == "mis-sync-0042"
    seen = echo_headers(response)
    assert seen["x-request-id"] == ["mis-sync-0042"]
    (forwarded,) = seen["traceparent"]
    version, forwarded_trace, span, flags = forwarded.split("-")
    assert (version, forwarded_trace, flags) == ("00", trace_id, "01")
    assert span != parent and re.fullmatch(r"[0-9a-f]{16}", span)
    logged = [
        json.loads(line)
        for line in platform.incidents.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    entries = [e for e in logged if e.get("request_id") == "mis-sync-0042"]
    assert entries and all(e["trace_id"] == trace_id for e in entries)


async def test_a_malformed_request_id_is_replaced_by_one_the_service_also_sees(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    response = await client.get(
        "/v1/incidents/x",
        headers={**live_tokens.headers(), "X-Request-ID": 'bad id"<script>', "traceparent": "garbage"},
    )
    request_id = response.headers["x-request-id"]
    assert request_id != 'bad id"<script>'
    seen = echo_headers(response)
    assert seen["x-request-id"] == [request_id]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", seen["traceparent"][0])


async def test_a_body_over_the_cap_is_413_and_reaches_no_service(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory
) -> None:
    before = platform.count(platform.incidents)
    response = await client.post(
        "/v1/incidents", content=b"x" * (1_048_576 + 1), headers=live_tokens.headers()
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    async def chunks():  # no Content-Length: the cap is counted as the body streams
        for _ in range(20):
            yield b"y" * 65536

    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as fresh:
        streamed = await fresh.post("/v1/incidents", content=chunks(), headers=live_tokens.headers())
    assert streamed.status_code == 413
    assert platform.count(platform.incidents) == before


async def test_large_and_chunked_request_bodies_under_the_cap_arrive_whole(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    body = bytes(range(256)) * 3000  # 768 KB: over the buffered size, so it streams upstream
    sized = await client.put("/v1/incidents/upload", content=body, headers=live_tokens.headers())
    assert sized.json()["body_sha256"] == hashlib.sha256(body).hexdigest()

    async def chunks():
        for i in range(0, len(body), 50_000):
            yield body[i : i + 50_000]

    chunked = await client.post("/v1/incidents/upload", content=chunks(), headers=live_tokens.headers())
    assert chunked.json()["body_length"] == len(body)
    assert chunked.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


async def test_oversized_headers_are_431_and_long_queries_414(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    big_headers = {**live_tokens.headers(), **{f"X-Pad-{i}": "p" * 1000 for i in range(20)}}
    assert (await client.get("/v1/incidents/x", headers=big_headers)).status_code == 431
    long_query = await client.get("/v1/incidents/x?q=" + "a" * 9000, headers=live_tokens.headers())
    assert long_query.status_code == 414
    assert long_query.headers["content-type"] == "application/problem+json"


async def test_a_large_response_streams_through(client: httpx.AsyncClient, live_tokens: TokenFactory) -> None:
    size = 20 * 1024 * 1024
    received = 0
    async with client.stream(
        "GET", f"/v1/incidents/export/big?size={size}", headers=live_tokens.headers()
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/csv"
        async for chunk in r.aiter_raw():
            received += len(chunk)
    assert received == size


async def test_the_response_is_forwarded_before_the_service_has_finished_it(
    client: httpx.AsyncClient, platform: Platform, live_tokens: TokenFactory
) -> None:
    # The service sends one chunk and then waits to be released: a gateway that buffered the
    # response would never deliver that first chunk (the timeout below only guards the suite).
    async with client.stream(
        "GET", "/v1/incidents/export/hold", headers=live_tokens.headers(), timeout=20
    ) as response:
        chunks = response.aiter_raw()
        first = await anext(chunks)
        assert first.startswith(b"first-chunk;")
        async with httpx.AsyncClient() as control:
            await control.post(f"{platform.incidents.url}/control/release")
        rest = b"".join([c async for c in chunks])
    assert (first + rest) == b"first-chunk;after-release"


async def test_readyz_reports_every_upstream(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["upstreams"] == {"identity": "ready", "incidents": "ready"}


async def test_metrics_count_per_route_not_per_raw_path(
    client: httpx.AsyncClient, live_tokens: TokenFactory
) -> None:
    await client.get("/v1/incidents/a-unique-raw-path-123", headers=live_tokens.headers())
    text = (await client.get("/metrics")).text
    assert 'gateway_requests_total{method="GET",route="incidents:/v1/incidents",status="200"}' in text
    assert "gateway_request_duration_seconds_bucket" in text
    assert "a-unique-raw-path-123" not in text


async def test_openapi_merges_every_service(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert set(doc["paths"]) == {"/v1/identity/items", "/v1/incidents/items"}
    schemas = doc["components"]["schemas"]
    # Same name, different content: renamed per service, references rewritten to match.
    assert {"IdentityItem", "IncidentsItem", "Problem"} <= set(schemas)
    assert "Item" not in schemas
    ref = doc["paths"]["/v1/incidents/items"]["get"]["responses"]["200"]["content"]
    assert ref["application/json"]["schema"]["$ref"] == "#/components/schemas/IncidentsItem"
    assert "incidents_field" in schemas["IncidentsItem"]["properties"]
    scopes = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"]
    assert set(scopes) == {"identity:read", "incidents:read"}
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/docs/assets/docs.js" in docs.text  # Swagger UI's initialiser, which loads /openapi.json
