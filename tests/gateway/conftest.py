"""Gateway fixtures: test upstreams and gateways as real processes on loopback, and in-process
gateways with a frozen clock for the time-dependent rules (rate-limit windows, breaker cool-down).

For slow and misbehaving clients (tests/gateway/test_slow_clients.py, test_breaker_probes.py):
`on_socket` serves an in-process gateway with uvicorn on a real loopback socket (frozen clock, real
socket timeouts), `ScriptedUpstream` is a service in this process that tells the test what reached
it, and `RawClient` speaks HTTP/1.1 byte by byte, so a test can send half a body and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gateway.config import GatewaySettings
from gateway.main import Gateway, create_app
from servicekit.auth import StaticKeySource
from servicekit.clock import FrozenClock
from servicekit.jwt import SigningKey
from servicekit.testing import ServiceProcess, TokenFactory, free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join([str(ROOT), str(ROOT / "gateway" / "src"), os.environ.get("PYTHONPATH", "")])
UPSTREAM_APP = "tests.gateway.upstream_app:create_app"
GATEWAY_APP = "gateway.main:create_app"

pytestmark = pytest.mark.processes


def start_upstream(
    name: str, prefix: str, tmp: Path, *, jwks_file: Path | None = None, port: int | None = None
) -> ServiceProcess:
    env = {"UPSTREAM_NAME": name, "UPSTREAM_PREFIX": prefix, "PYTHONPATH": PYTHONPATH}
    if jwks_file is not None:
        env["UPSTREAM_JWKS_FILE"] = str(jwks_file)
    return ServiceProcess(name, UPSTREAM_APP, port or free_port(), env, tmp / f"{name}.log").start()


def upstream_list(procs: dict[str, tuple[ServiceProcess, list[str]]], **extra: Any) -> str:
    return json.dumps(
        [
            {"name": name, "url": proc.url, "prefixes": prefixes, **extra}
            for name, (proc, prefixes) in procs.items()
        ]
    )


def start_gateway(name: str, tmp: Path, env: dict[str, str]) -> ServiceProcess:
    # The gateway handles X-Forwarded-For itself (PLATFORM_TRUSTED_PROXIES): uvicorn must not.
    full = {"PYTHONPATH": PYTHONPATH, "ENVIRONMENT": "test", "UVICORN_PROXY_HEADERS": "false", **env}
    return ServiceProcess(name, GATEWAY_APP, free_port(), full, tmp / f"{name}.log").start(
        ready_path="/livez"
    )


class Platform:
    """Two test upstreams (identity-like, serving the JWKS, and incidents) behind one gateway."""

    def __init__(self, tmp: Path, tokens: TokenFactory) -> None:
        self.tmp = tmp
        self.tokens = tokens
        self.jwks_file = tmp / "jwks.json"
        self.write_jwks(tokens.jwks())
        self.identity = start_upstream("identity", "/v1/identity", tmp, jwks_file=self.jwks_file)
        self.incidents = start_upstream("incidents", "/v1/incidents", tmp)
        self.upstreams = {
            "identity": (self.identity, ["/oauth", "/.well-known", "/v1/identity"]),
            "incidents": (self.incidents, ["/v1/incidents"]),
        }
        self.gateway = start_gateway(
            "gateway",
            tmp,
            {
                "GATEWAY_UPSTREAMS": upstream_list(self.upstreams),
                "PLATFORM_JWKS_URL": f"{self.identity.url}/.well-known/jwks.json",
            },
        )

    def write_jwks(self, keys: list[dict[str, Any]]) -> None:
        self.jwks_file.write_text(json.dumps({"keys": keys}))

    def count(self, proc: ServiceProcess) -> int:
        return int(httpx.get(f"{proc.url}/control/count").json()["count"])

    def stop(self) -> None:
        for proc in (self.gateway, self.identity, self.incidents):
            proc.stop()


@pytest.fixture(scope="session")
def live_tokens(signing_key: SigningKey) -> TokenFactory:
    """Tokens at the real time, for gateways running as processes (their clock is the system's)."""
    return TokenFactory(signing_key)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, live_tokens: TokenFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("gateway"), live_tokens)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway.url, timeout=30) as c:
        yield c


@pytest.fixture
def in_process(platform: Platform, tokens: TokenFactory, clock: FrozenClock) -> Callable[..., Any]:
    """`async with in_process(**settings) as (app, client)`: a gateway in this process, frozen clock."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(
        upstreams: str | None = None, **overrides: Any
    ) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
        settings = GatewaySettings(
            environment="test",
            upstreams=json.loads(upstreams or upstream_list(platform.upstreams)),
            **overrides,
        )
        app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks), configure_logs=False)
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
                yield app, c

    return make


# --- an in-process gateway on a real socket, a scripted upstream, a byte-level client -----------


@dataclass
class Served:
    """A gateway served by uvicorn in this process on a loopback socket."""

    app: Gateway
    port: int
    ended: asyncio.Queue[str]  # the path of each request the gateway has finished handling

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def finished(self, path: str) -> None:
        """Until the gateway has finished a request for `path` (the ones before it are dropped)."""
        async with asyncio.timeout(2):
            while await self.ended.get() != path:
                pass


@pytest.fixture
def on_socket(tokens: TokenFactory, clock: FrozenClock) -> Callable[..., Any]:
    """`async with on_socket(upstreams_json, **settings) as served`: the real gateway app behind a
    real uvicorn server (httptools, as deployed) on a loopback socket, with the frozen clock. Rate
    limits are off unless asked for: these tests open many connections from one address."""

    @contextlib.asynccontextmanager
    async def make(upstreams: str, **overrides: Any) -> AsyncIterator[Served]:
        overrides.setdefault("rate_limit_enabled", False)
        settings = GatewaySettings(environment="test", upstreams=json.loads(upstreams), **overrides)
        app = create_app(settings, clock=clock, key_source=StaticKeySource(tokens.jwks), configure_logs=False)
        ended: asyncio.Queue[str] = asyncio.Queue()

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                ended.put_nowait(scope.get("path", ""))

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)  # clients may connect at once: the kernel queues them until uvicorn accepts
        config = uvicorn.Config(
            watched,
            lifespan="off",
            http="httptools",
            proxy_headers=False,  # as deployed: the gateway decides whose X-Forwarded-For to believe
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        async with app.lifespan():
            task = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                yield Served(app, sock.getsockname()[1], ended)
            finally:
                server.should_exit = True
                await task
                sock.close()

    return make


@dataclass
class ScriptedUpstream:
    """A service on loopback in this process. Each request's head is put on `heads` as it arrives;
    what it does next is `mode`: "answer" (read the body, answer 200 with its length), "hang_up"
    (close the connection), "stall" (say nothing), "garbage" (not HTTP). A path ending in
    `/endless` is answered with a chunked response that never ends."""

    mode: str = "answer"
    heads: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    bodies: list[int] = field(default_factory=list)  # the length of each body read whole
    server: asyncio.Server | None = None
    url: str = ""

    async def __aenter__(self) -> ScriptedUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def upstreams(self, *prefixes: str, **extra: Any) -> str:
        return json.dumps([{"name": "identity", "url": self.url, "prefixes": list(prefixes), **extra}])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.put_nowait(head)
                if self.mode == "hang_up":
                    return
                if self.mode == "stall":
                    await reader.read()
                    return
                if self.mode == "garbage":
                    writer.write(b"HELLO THERE\r\n\r\n")
                    return
                length = await _read_body(reader, head.lower())
                self.bodies.append(length)
                if head.split(b" ", 2)[1].endswith(b"/endless"):
                    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
                    while True:
                        writer.write(chunk)
                        await writer.drain()
                payload = json.dumps({"body_length": length}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> int:
    if b"content-length:" in head:
        return len(await reader.readexactly(int(head.split(b"content-length:")[1].split(b"\r\n")[0])))
    length = 0
    if b"transfer-encoding: chunked" in head:
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            length += len(await reader.readexactly(size + 2)) - 2
        await reader.readexactly(2)
    return length


@dataclass
class RawClient:
    """One HTTP/1.1 connection to the gateway, written byte by byte; every read is bounded."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def connect(cls, port: int, *, source: str = "127.0.0.1", receive_buffer: int = 0) -> RawClient:
        sock = socket.socket()
        if receive_buffer:  # set before connecting, so the window never grows past it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    async def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [
            f"{method} {path} HTTP/1.1",
            "host: gateway.test",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_head(self, within: float = 2.0) -> tuple[int, dict[str, str]]:
        async with asyncio.timeout(within):
            head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines if line)}
        return int(status_line.split()[1]), headers

    async def read_response(self, within: float = 2.0) -> tuple[int, dict[str, str], bytes]:
        status, headers = await self.read_head(within)
        async with asyncio.timeout(within):
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def read_to_end(self, within: float = 2.0) -> int:
        """Bytes until the gateway ends the connection (a reset counts as the end)."""
        received = 0
        async with asyncio.timeout(within):
            with contextlib.suppress(ConnectionError):
                while data := await self.reader.read(1 << 20):
                    received += len(data)
        return received

    def close(self) -> None:
        self.writer.close()
