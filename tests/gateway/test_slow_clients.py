"""Slow and hostile clients cannot starve a service (issue 11, finding 9): a gateway on a real
socket, clients that send a few bytes of a body and stop, that upload without end, that hold every
connection they can, or that stop reading a download. Every wait on them is bounded (the bounds are
small here; the gateway enforces them, the test only reads its sockets with a timeout)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings
from servicekit.testing import TokenFactory
from tests.gateway.conftest import RawClient, ScriptedUpstream

pytestmark = pytest.mark.processes

FORM = {"content-type": "application/x-www-form-urlencoded"}
HONEST = {"grant_type": "password", "username": "head@school.test", "password": "correct horse"}


def honest_client(url: str, *, within: float = 1.0) -> httpx.AsyncClient:
    """A client from another address (127.0.0.2) than the attackers' (127.0.0.1)."""
    return httpx.AsyncClient(
        base_url=url, timeout=within, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    )


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == expected and problem["request_id"] == headers["x-request-id"]
    return dict(problem)


async def test_256_slow_token_uploads_leave_sign_in_to_everyone_else(on_socket) -> None:
    """The finding's attack at the default pool size: 256 connections each send a few bytes of a
    large /oauth/token body and stop. None of them holds a connection to identity (a body is read
    up to 256 KiB before one is taken), an honest sign-in goes straight through, and the slow ones
    get 408 when their body stops arriving."""
    async with (
        ScriptedUpstream() as upstream,
        on_socket(upstream.upstreams("/oauth"), body_idle_timeout_seconds=0.5) as served,
    ):
        assert served.app.settings.pool_size == 256
        attackers = [await RawClient.connect(served.port) for _ in range(256)]
        for attacker in attackers:
            await attacker.send_head(
                "POST", "/oauth/token", {**FORM, "content-length": "1000000", "expect": "100-continue"}
            )
        for attacker in attackers:
            # 100 Continue: the gateway is waiting for this body (before the fix, it had taken one
            # of the 256 connections to the service for it first).
            assert (await attacker.read_head())[0] == 100
            await attacker.send(b"grant_type=password&username=")

        started = time.monotonic()
        async with honest_client(served.url) as c:
            signed_in = await c.post("/oauth/token", data=HONEST)
        assert signed_in.status_code == 200
        assert time.monotonic() - started < 1.0
        assert upstream.heads.qsize() == 1  # only the honest request reached the service

        for attacker in attackers:
            assert_problem(*await attacker.read_response(), 408)
            attacker.close()
        assert served.app.pools["identity"].in_use == 0


async def test_a_body_that_stops_arriving_is_408_and_holds_no_connection(
    on_socket, tokens: TokenFactory
) -> None:
    limits = {"/v1/identity/uploads": 4 * 1024 * 1024}
    async with (
        ScriptedUpstream() as upstream,
        on_socket(
            upstream.upstreams("/oauth", "/v1/identity"), body_idle_timeout_seconds=0.2, body_limits=limits
        ) as served,
    ):
        # A small body: read whole before anything goes to the service, so nothing does.
        small = await RawClient.connect(served.port)
        await small.send_head("POST", "/oauth/token", {**FORM, "content-length": "100"})
        await small.send(b"grant_type=")
        status, headers, body = await small.read_response()
        problem = assert_problem(status, headers, body, 408)
        assert problem["type"].endswith("request-timeout")  # type: ignore[attr-defined]
        assert headers["connection"] == "close"
        assert upstream.heads.empty()

        # A large body streams once 256 KiB have arrived; when the rest stops coming, the service's
        # connection is dropped (the service never sees a complete request) and given back.
        large = await RawClient.connect(served.port)
        await large.send_head(
            "POST", "/v1/identity/uploads/1", {**tokens.headers(), "content-length": str(2 * 1024 * 1024)}
        )
        await large.send(b"x" * 300_000)
        assert_problem(*await large.read_response(), 408)
        assert upstream.heads.qsize() == 1 and upstream.bodies == []
        assert served.app.pools["identity"].in_use == 0
        for client in (small, large):
            client.close()


async def test_a_body_must_be_complete_within_the_body_timeout(on_socket) -> None:
    """The idle timeout alone would let a client trickle a byte at a time for ever."""
    async with (
        ScriptedUpstream() as upstream,
        on_socket(
            upstream.upstreams("/oauth"), body_idle_timeout_seconds=10, body_timeout_seconds=0.3
        ) as served,
    ):
        client = await RawClient.connect(served.port)
        await client.send_head("POST", "/oauth/token", {**FORM, "content-length": "100"})
        started = time.monotonic()
        await client.send(b"grant_type=")
        assert_problem(*await client.read_response(), 408)
        assert time.monotonic() - started < 2  # the 0.3 s deadline, not the 10 s idle timeout
        assert upstream.heads.empty()
        client.close()


async def test_one_client_holds_at_most_its_share_of_a_services_connections(
    on_socket, tokens: TokenFactory
) -> None:
    """One client (a token's client) uploading large bodies, each past the 256 KiB read before a
    connection is taken, gets two of the four connections; its third upload waits a bounded time
    and is 503 with Retry-After; another address, and another client, still get through at once."""
    limits = {"/v1/identity/uploads": 4 * 1024 * 1024}
    async with (
        ScriptedUpstream() as upstream,
        on_socket(
            upstream.upstreams("/oauth", "/v1/identity"),
            pool_size=4,
            pool_share_per_client=2,
            pool_wait_seconds=0.2,
            body_idle_timeout_seconds=0.8,
            body_limits=limits,
        ) as served,
    ):
        mis = tokens.headers(client_id="mis-client")
        uploads = []
        for n in range(3):
            upload = await RawClient.connect(served.port)
            await upload.send_head(
                "POST", "/v1/identity/uploads/1", {**mis, "content-length": str(1024 * 1024)}
            )
            await upload.send(b"x" * 300_000)
            uploads.append(upload)
            if n < 2:  # it holds a connection: the service has its head
                assert (await upstream.heads.get()).startswith(b"POST /v1/identity/uploads/1")
        status, headers, body = await uploads[2].read_response()
        assert_problem(status, headers, body, 503)
        assert headers["retry-after"] == "1" and headers["connection"] == "close"
        assert upstream.heads.empty()

        async with honest_client(served.url) as c:
            assert (await c.post("/oauth/token", data=HONEST)).status_code == 200
            other = tokens.headers(client_id="another-client")
            assert (await c.get("/v1/identity/x", headers=other)).status_code == 200
        for upload in uploads[:2]:
            assert_problem(*await upload.read_response(), 408)
        for upload in uploads:
            upload.close()
        assert served.app.pools["identity"].in_use == 0


async def test_a_client_that_stops_reading_a_download_is_cut_off(on_socket, tokens: TokenFactory) -> None:
    """A client that asks for an endless stream and reads none of it would hold the service's only
    connection for ever; after the send timeout the gateway ends its connection and the next
    request gets the connection."""
    async with (
        ScriptedUpstream() as upstream,
        on_socket(
            upstream.upstreams("/v1/identity"),
            pool_size=1,
            pool_share_per_client=1,
            pool_wait_seconds=3,
            send_timeout_seconds=0.2,
        ) as served,
    ):
        stalled = await RawClient.connect(served.port, receive_buffer=4096)
        await stalled.send_head("GET", "/v1/identity/export/endless", tokens.headers())
        await upstream.heads.get()
        started = time.monotonic()
        async with honest_client(served.url, within=2.5) as c:
            answered = await c.get("/v1/identity/x", headers=tokens.headers(client_id="another-client"))
        assert answered.status_code == 200
        assert time.monotonic() - started < 2
        # The stalled client's connection was ended: what it reads now stops short of an end.
        assert await stalled.read_to_end() < 64 * 1024 * 1024
        stalled.close()


def test_the_share_defaults_to_a_quarter_of_the_pool_and_cannot_exceed_it() -> None:
    assert GatewaySettings(environment="test").pool_share_per_client == 64
    assert GatewaySettings(environment="test", pool_size=8).pool_share_per_client == 2
    assert GatewaySettings(environment="test", pool_size=2).pool_share_per_client == 1
    with pytest.raises(ValidationError):
        GatewaySettings(environment="test", pool_size=8, pool_share_per_client=9)
    with pytest.raises(ValidationError):
        GatewaySettings(environment="test", body_idle_timeout_seconds=0)
