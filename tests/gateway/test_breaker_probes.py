"""A half-open breaker's probe is settled exactly once on every path (issue 11, finding 10).

Before, a probe that ended in a 413 (a chunked body over the cap) or with its client gone mid-body
was never settled, and the service was 503 until the gateway restarted. Here each way a probe can
end is played through a real socket against a gateway whose breaker opens at the first failure:
the probe's own answer, then what the next request meets (the breaker closed again, or re-opened
when the probe showed the service failing). The clock is frozen; the cool-down passes by moving it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.breaker import CircuitBreaker, State
from servicekit.clock import FrozenClock
from servicekit.testing import TokenFactory
from tests.gateway.conftest import RawClient, ScriptedUpstream, Served

pytestmark = pytest.mark.processes

UPLOADS = {"/v1/identity/uploads": 4 * 1024 * 1024}


@dataclass
class Probe:
    served: Served
    upstream: ScriptedUpstream
    client: httpx.AsyncClient
    headers: dict[str, str]
    tokens: TokenFactory
    monkeypatch: pytest.MonkeyPatch


async def answered(p: Probe) -> None:
    assert (await p.client.get("/v1/identity/x", headers=p.headers)).status_code == 200


async def service_hangs_up(p: Probe) -> None:
    p.upstream.mode = "hang_up"
    assert (await p.client.post("/v1/identity/x", headers=p.headers, json={})).status_code == 502
    p.upstream.mode = "answer"


async def service_too_slow(p: Probe) -> None:
    p.upstream.mode = "stall"
    assert (await p.client.get("/v1/identity/x", headers=p.headers)).status_code == 504
    p.upstream.mode = "answer"


async def service_speaks_garbage(p: Probe) -> None:
    p.upstream.mode = "garbage"
    assert (await p.client.get("/v1/identity/x", headers=p.headers)).status_code == 502
    p.upstream.mode = "answer"


async def chunked_body_over_the_cap(p: Probe) -> None:
    """1 MiB chunked, over the 1 KiB cap: refused at its first piece, the rest drained, 413."""
    raw = await RawClient.connect(p.served.port)
    await raw.send_head("POST", "/v1/identity/x", {**p.headers, "transfer-encoding": "chunked"})
    await raw.send(b"%x\r\n%s\r\n" % (65536, b"x" * 65536) * 16 + b"0\r\n\r\n")
    assert (await raw.read_response())[0] == 413
    raw.close()


async def chunked_body_over_the_cap_in_one_piece(p: Probe) -> None:
    """Over the cap and complete in the first piece the gateway reads: nothing is left to drain
    (before, the gateway waited for more body that would never come)."""
    raw = await RawClient.connect(p.served.port)
    await raw.send_head("POST", "/v1/identity/x", {**p.headers, "transfer-encoding": "chunked"})
    await raw.send(b"%x\r\n%s\r\n0\r\n\r\n" % (2048, b"x" * 2048))
    assert (await raw.read_response())[0] == 413
    raw.close()


async def client_gone_mid_body(p: Probe) -> None:
    raw = await RawClient.connect(p.served.port)
    await raw.send_head(
        "POST", "/v1/identity/gone", {**p.headers, "content-length": "1000", "expect": "100-continue"}
    )
    assert (await raw.read_head())[0] == 100  # the probe was admitted and is reading the body
    await raw.send(b"0123456789")
    raw.close()
    await p.served.finished("/v1/identity/gone")


async def client_gone_mid_stream(p: Probe) -> None:
    raw = await RawClient.connect(p.served.port)
    await raw.send_head("POST", "/v1/identity/uploads/1", {**p.headers, "content-length": str(1024 * 1024)})
    await raw.send(b"x" * 300_000)
    await p.upstream.heads.get()  # the body is streaming to the service
    raw.close()
    await p.served.finished("/v1/identity/uploads/1")


async def body_stops_arriving(p: Probe) -> None:
    raw = await RawClient.connect(p.served.port)
    await raw.send_head("POST", "/v1/identity/x", {**p.headers, "content-length": "100"})
    await raw.send(b"0123456789")
    assert (await raw.read_response())[0] == 408
    raw.close()


async def gateway_error(p: Probe) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the gateway")

    p.monkeypatch.setattr(p.served.app.pools["identity"], "request", broken)
    assert (await p.client.get("/v1/identity/x", headers=p.headers)).status_code == 500
    p.monkeypatch.undo()


async def no_free_connection(p: Probe) -> None:
    """The probe's client already holds its whole share (an upload admitted before the breaker
    opened), so the probe waits for a connection, in vain: 503 busy, not the circuit."""
    busy = await p.client.get("/v1/identity/x", headers=p.tokens.headers(client_id="uploader"))
    assert busy.status_code == 503 and "circuit" not in busy.json()


CASES: list[tuple[Callable[[Probe], Awaitable[None]], str]] = [
    (answered, "closed"),
    (service_hangs_up, "open"),
    (service_too_slow, "open"),
    (service_speaks_garbage, "closed"),
    (chunked_body_over_the_cap, "closed"),
    (chunked_body_over_the_cap_in_one_piece, "closed"),
    (client_gone_mid_body, "closed"),
    (client_gone_mid_stream, "closed"),
    (body_stops_arriving, "closed"),
    (gateway_error, "closed"),
    (no_free_connection, "closed"),
]


@pytest.mark.parametrize(("probe", "then"), CASES, ids=[case[0].__name__ for case in CASES])
async def test_every_way_a_probe_ends_settles_it(
    probe: Callable[[Probe], Awaitable[None]],
    then: str,
    on_socket,
    tokens: TokenFactory,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with (
        ScriptedUpstream() as upstream,
        on_socket(
            upstream.upstreams("/v1/identity", timeout_seconds=0.2),
            breaker_failure_threshold=1,
            breaker_cooldown_seconds=10,
            max_body_bytes=1024,
            body_limits=UPLOADS,
            body_idle_timeout_seconds=0.2 if probe is body_stops_arriving else 5,
            pool_size=2,
            pool_share_per_client=1,
            pool_wait_seconds=0.1,
        ) as served,
        httpx.AsyncClient(base_url=served.url, timeout=2) as client,
    ):
        p = Probe(served, upstream, client, tokens.headers(client_id="mis"), tokens, monkeypatch)
        upload = None
        if probe is no_free_connection:  # admitted while closed, it holds the uploader's share
            upload = await RawClient.connect(served.port)
            await upload.send_head(
                "POST",
                "/v1/identity/uploads/1",
                {**tokens.headers(client_id="uploader"), "content-length": str(1024 * 1024)},
            )
            await upload.send(b"x" * 300_000)
            await upstream.heads.get()

        await service_hangs_up(p)  # the first failure opens the breaker
        refused = await client.get("/v1/identity/x", headers=p.headers)
        assert refused.status_code == 503 and refused.json()["circuit"] == "open"
        clock.advance(seconds=11)  # the cool-down is over: the next request is the probe

        await probe(p)

        following = await client.get("/v1/identity/x", headers=p.headers)
        if then == "closed":  # the probe told nothing or was good: the next request goes through
            assert following.status_code == 200, following.text
            assert (await client.get("/v1/identity/x", headers=p.headers)).status_code == 200
            assert served.app.breakers["identity"].state == State.CLOSED
        else:  # the probe showed the service failing: open again, for another cool-down
            assert following.status_code == 503 and following.json()["circuit"] == "open"
        if upload is not None:
            upload.close()


def test_an_older_probe_cannot_settle_a_newer_one(clock: FrozenClock) -> None:
    breaker = CircuitBreaker("x", failure_threshold=1, cooldown=10, clock=clock)
    early = breaker.admit()  # let through while closed; it will answer late
    assert early is not None and not early.is_probe
    with breaker.admit() as failing:  # type: ignore[union-attr]
        failing.failure()
    clock.advance(seconds=11)
    first = breaker.admit()
    assert first is not None and first.is_probe and breaker.admit() is None
    early.failure()  # the late answer re-opens the breaker
    clock.advance(seconds=11)
    second = breaker.admit()
    assert second is not None and second.is_probe
    with first:
        first.success()  # the first probe's report comes after a newer probe started: ignored
    assert breaker.state == State.HALF_OPEN and breaker.probing and breaker.admit() is None
    with second:
        second.success()
    assert breaker.state == State.CLOSED and not breaker.probing


def test_a_probe_left_by_an_exception_lets_the_next_request_probe(clock: FrozenClock) -> None:
    breaker = CircuitBreaker("x", failure_threshold=1, cooldown=10, clock=clock)
    with breaker.admit() as admission:  # type: ignore[union-attr]
        admission.failure()
    clock.advance(seconds=11)
    with pytest.raises(RuntimeError), breaker.admit():  # type: ignore[union-attr]
        raise RuntimeError("anything")
    probe = breaker.admit()
    assert probe is not None and probe.is_probe
