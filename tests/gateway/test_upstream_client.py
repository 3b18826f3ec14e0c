"""The gateway's upstream client (gateway/upstream.py) against scripted HTTP servers on loopback:
what it writes, what it accepts back, when it reuses a connection, and how each failure surfaces.
The gateway's own tests (test_forwarding, test_resilience) cover the same client end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gateway.upstream import (
    HIGH_WATER,
    ConnectFailed,
    Disconnected,
    InvalidResponse,
    PoolBusy,
    UpstreamPool,
)
from servicekit.testing import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A TCP server on loopback that runs `handler` for each connection and keeps what it read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request: its head, and a body framed by content-length or chunked."""
        head = await reader.readuntil(b"\r\n\r\n")
        body = b""
        lower = head.lower()
        if b"content-length:" in lower:
            length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
        elif b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        self.requests.append(head + body)
        return head + body


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def pool_for(server: Server, **kwargs: Any) -> UpstreamPool:
    return UpstreamPool(server.url, limit=8, connect_timeout=2, **kwargs)


async def test_a_request_is_written_once_with_its_own_framing_and_the_connection_is_kept() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(ok(b'{"a":1}'))
            await writer.drain()

    async with Server(handler) as server:
        pool = pool_for(server)
        for body in (b'{"x": 1}', b""):
            response = await pool.request(
                "POST", b"/v1/x?q=1", [(b"authorization", b"Bearer t")], body, read_timeout=5
            )
            assert (response.status, await response.read()) == (200, b'{"a":1}')
            assert response.content_length == 7
            response.release()
        pool.close()
    first, second = server.requests
    assert first.startswith(b"POST /v1/x?q=1 HTTP/1.1\r\n")
    assert first.lower().count(b"content-length:") == 1 and first.endswith(b'\r\n\r\n{"x": 1}')
    assert first.lower().count(b"host:") == 1 and b"authorization: Bearer t\r\n" in first
    assert b"content-length: 0\r\n" in second
    assert server.connections == 1  # the second request reused the first one's connection


async def test_a_streamed_request_body_goes_chunked() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await server.read_request(reader)
        writer.write(ok(str(len(request.split(b"\r\n\r\n", 1)[1])).encode()))

    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 100_000

    async with Server(handler) as server:
        pool = pool_for(server)
        response = await pool.request("PUT", b"/up", [], body(), read_timeout=5)
        assert await response.read() == b"1000000"
        response.release()
    assert b"transfer-encoding: chunked" in server.requests[0]
    assert b"content-length" not in server.requests[0].split(b"\r\n\r\n")[0]


async def test_chunked_and_interim_responses_are_read_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n")
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async with Server(handler) as server:
        pool = pool_for(server)
        response = await pool.request("GET", b"/", [], None, read_timeout=5)
        assert response.status == 201 and (b"x-a", b"1") in response.raw_headers
        assert (b"link", b"</a>") not in response.raw_headers
        assert response.content_length is None
        assert await response.read() == b"hello world"
        response.release()


async def test_a_large_body_is_not_read_faster_than_it_is_taken() -> None:
    size = 8 * HIGH_WATER

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"z" * 65536)
            await writer.drain()

    async with Server(handler) as server:
        pool = pool_for(server)
        response = await pool.request("GET", b"/big", [], None, read_timeout=5)
        conn = response._conn
        while not conn.reading_paused:  # nothing taken yet: reading stops past the high-water mark
            await conn.wait(5)
        held = conn.buffered
        assert HIGH_WATER < held < 2 * HIGH_WATER
        received = 0
        async for chunk in response.iter_chunks():
            assert len(chunk) < 2 * HIGH_WATER
            received += len(chunk)
        assert received == size
        response.release()


async def test_a_service_that_does_not_answer_in_time_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await reader.read()  # holds the connection open, never answers

    async with Server(handler) as server:
        pool = pool_for(server)
        with pytest.raises(TimeoutError):
            await pool.request("GET", b"/", [], None, read_timeout=0.05)
        assert pool._idle == []  # a timed-out connection is never reused


async def test_garbage_is_an_invalid_response_and_a_closed_connection_a_disconnect() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HELLO THERE\r\n\r\n")

    async with Server(garbage) as server:
        with pytest.raises(InvalidResponse):
            await pool_for(server).request("GET", b"/", [], None, read_timeout=5)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    async with Server(hang_up) as server:
        with pytest.raises(Disconnected):
            await pool_for(server).request("GET", b"/", [], None, read_timeout=5)

    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")

    async with Server(cut_short) as server:
        response = await pool_for(server).request("GET", b"/", [], None, read_timeout=5)
        with pytest.raises(Disconnected):
            await response.read()
        response.release()


async def test_nothing_listening_is_a_connect_failure() -> None:
    pool = UpstreamPool(f"http://127.0.0.1:{free_port()}", limit=1, connect_timeout=2)
    with pytest.raises(ConnectFailed):
        await pool.request("GET", b"/", [], None, read_timeout=5)
    with pytest.raises(ConnectFailed):  # the slot taken by the failed try was given back
        await pool.request("GET", b"/", [], None, read_timeout=5)


async def test_connections_not_reused_after_head_a_second_response_or_idling() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await server.read_request(reader)
            if request.startswith(b"GET /twice"):
                writer.write(ok() + ok())
            else:
                writer.write(ok())
            await writer.drain()

    async with Server(handler) as server:
        pool = pool_for(server)
        head = await pool.request("HEAD", b"/", [], None, read_timeout=5)
        assert head.status == 200 and await head.read() == b""
        head.release()
        twice = await pool.request("GET", b"/twice", [], None, read_timeout=5)
        assert await twice.read() == b"hello"
        twice.release()  # both answers came in one write: the unasked second one closes it
        plain = await pool.request("GET", b"/", [], None, read_timeout=5)
        await plain.read()
        plain.release()
        assert server.connections == 3
        idle = pool_for(server, idle_seconds=0)
        for _ in range(2):
            response = await idle.request("GET", b"/", [], None, read_timeout=5)
            await response.read()
            response.release()
        assert server.connections == 5


async def test_one_owner_holds_at_most_its_share_and_waits_a_bounded_time() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server.read_request(reader)
            writer.write(ok())
            await writer.drain()

    async with Server(handler) as server:
        pool = UpstreamPool(server.url, limit=3, connect_timeout=2, share=2, wait_seconds=0.05)
        held = [await pool.request("GET", b"/", [], None, read_timeout=5, owner="a") for _ in range(2)]
        with pytest.raises(PoolBusy):  # over its share, though the pool has room: nothing is sent
            await pool.request("GET", b"/", [], None, read_timeout=5, owner="a")
        assert len(server.requests) == 2 and not pool._waiting
        other = await pool.request("GET", b"/", [], None, read_timeout=5, owner="b")
        assert pool.in_use == 3
        with pytest.raises(PoolBusy):  # the pool is full
            await pool.request("GET", b"/", [], None, read_timeout=5, owner="c")
        for response in [*held, other]:
            await response.read()
            response.release()
        assert pool.in_use == 0 and pool._held == {}
        again = await pool.request("GET", b"/", [], None, read_timeout=5, owner="a")
        await again.read()
        again.release()
        pool.close()
