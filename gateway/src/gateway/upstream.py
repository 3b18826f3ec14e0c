"""The gateway's client for the services behind it: HTTP/1.1 on kept-alive connections, responses
parsed by httptools (llhttp, the parser uvicorn itself uses on the client side of the gateway).

Why not aiohttp's client, which PERFORMANCE.md suggested: `bench/gateway_throughput.py --transports`
measures the same minimal proxy on each client in one run, and aiohttp's request machinery (its
request and response objects, its stream reader, its connector) was most of the gateway's CPU per
request. This client does only what the gateway needs from one: it sends a request it has already
checked, and hands back the status, the raw headers and the body as it arrives.

What it guarantees:
- Requests are written whole by this module: the request line, `host`, the headers the proxy
  passes (never a client's own `content-length`, `transfer-encoding` or `host`: the proxy drops
  them), then the body with a `content-length` this module computes, or chunked when it streams.
  Header names and values come from uvicorn's parser, which refuses CR and LF in them.
- Responses are parsed strictly (llhttp); anything else fails as `InvalidResponse`.
- A connection goes back to the pool only when its response was read to the end and both sides
  keep it alive; anything else (an error, a timeout, a cancelled request, a HEAD) closes it.
- A connection idle for `idle_seconds` is not reused (kept below the services' own keep-alive
  timeout, uvicorn's 5 s, so the pool rarely picks one the service is closing).
- Reading is flow-controlled: past `HIGH_WATER` unread bytes the socket stops being read until the
  proxy has sent them on, so a large download never piles up in the gateway.
- `read_timeout` bounds every wait for the service (for the response head, and between body
  chunks); `connect_timeout` the connection.
- At most `limit` connections are in use at once, and at most `share` of them by one owner (the
  proxy's client: a token's client or account, else an address), so one client cannot hold all of
  a service's connections. A request waits at most `wait_seconds` for a free one, then fails as
  `PoolBusy` (nothing was sent). The wait is a queue served in order; a request whose owner is
  under its share is never queued behind one that is over it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

HIGH_WATER = 256 * 1024


class UpstreamError(Exception):
    """The exchange with the service failed."""


class ConnectFailed(UpstreamError):
    """No connection to the service could be made: nothing was sent."""


class Disconnected(UpstreamError):
    """The service closed the connection before its response was complete."""


class InvalidResponse(UpstreamError):
    """The service's answer is not an HTTP/1.1 response this client can forward."""


class PoolBusy(Exception):
    """No connection to the service came free in time for this owner: nothing was sent. Not an
    UpstreamError: the service is fine, the gateway is at its limit (or the client at its share)."""


class _Connection(asyncio.Protocol):
    """One connection to a service; one request at a time on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.in_use = False
        self.owner = ""
        self.waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.interim = False
        self.stray = False
        self.complete = False
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.reading_paused = False
        self.error: UpstreamError | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.in_use and not self.complete and self.error is None:
            self.error = Disconnected("the service closed the connection")
        self._wake()
        if self.write_waiter is not None and not self.write_waiter.done():
            self.write_waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.write_waiter is not None and not self.write_waiter.done():
            self.write_waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.in_use:  # nothing was asked: a service speaking out of turn is not trusted again
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(InvalidResponse("the service switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"unparseable response: {exc}"))

    # --- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response to one request: never reuse this connection
            self.keep_alive = False
            self.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.stray:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.stray:
            return
        status = self.parser.get_status_code()
        if status < 200:  # an interim response (103 Early Hints): the real one follows
            self.interim = True
            self.headers = []
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.stray:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.stray:
            return
        if self.interim:
            self.interim = False
            return
        self.complete = True
        self._wake()

    # --- used by the pool and the response -------------------------------------------------------

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self.abort()
        self._wake()

    def _timed_out(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError("the service did not answer in time"))

    async def wait(self, seconds: float) -> None:
        """Until something arrives, the connection ends, or `seconds` pass (TimeoutError)."""
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        timer = loop.call_later(seconds, self._timed_out)
        try:
            await self.waiter
        finally:
            timer.cancel()
            self.waiter = None

    def take(self) -> bytes:
        """The body bytes received so far (the socket is read again once they are taken)."""
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        self.buffered = 0
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def send(self, head: bytes, body: bytes | AsyncIterator[bytes] | None, read_timeout: float) -> None:
        """Write the request; `head` ends just before the blank line, body headers not yet added."""
        assert self.transport is not None
        self._reset()
        self.in_use = True
        if body is None:
            self.transport.write(head + b"\r\n")
            return
        if isinstance(body, bytes):
            self.transport.write(b"%scontent-length: %d\r\n\r\n%s" % (head, len(body), body))
            return
        self.transport.write(head + b"transfer-encoding: chunked\r\n\r\n")
        async for chunk in body:
            if self.closed:
                raise self.error or Disconnected("the service closed the connection")
            if chunk:
                self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if self.write_paused:
                await self._drain(read_timeout)
        self.transport.write(b"0\r\n\r\n")

    async def _drain(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.write_waiter = loop.create_future()
        try:
            async with asyncio.timeout(seconds):
                await self.write_waiter
        finally:
            self.write_waiter = None
        if self.closed:
            raise self.error or Disconnected("the service closed the connection")


class UpstreamResponse:
    """A service's response: status and headers now, the body as it arrives. Always `release()`."""

    def __init__(
        self, pool: UpstreamPool, conn: _Connection, read_timeout: float, *, head_only: bool
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._read_timeout = read_timeout
        self._head_only = head_only
        self._released = False
        self.status = conn.status
        self.raw_headers = conn.headers
        self.content_length: int | None = None
        for name, value in conn.headers:
            if name.lower() == b"content-length" and value.isdigit():
                self.content_length = int(value)

    async def read(self) -> bytes:
        """The whole body."""
        parts = [data async for data in self.iter_chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body in the pieces it arrives in (at most about HIGH_WATER bytes each)."""
        conn = self._conn
        if self._head_only:
            return
        while True:
            if conn.chunks:
                yield conn.take()
            elif conn.complete:
                return
            elif conn.error is not None:
                raise conn.error
            elif conn.closed:
                raise Disconnected("the service closed the connection")
            else:
                await conn.wait(self._read_timeout)

    def release(self) -> None:
        """Hand the connection back if its exchange ended cleanly; close it otherwise."""
        if self._released:
            return
        self._released = True
        conn = self._conn
        reusable = conn.complete and conn.keep_alive and not conn.closed and not self._head_only
        self._pool._give_back(conn, reusable)


class UpstreamPool:
    """Kept-alive connections to one service, at most `limit` in use at once and `share` of them
    by one owner; a request waits at most `wait_seconds` for one."""

    def __init__(
        self,
        url: str,
        *,
        limit: int,
        connect_timeout: float,
        idle_seconds: float = 4.0,
        share: int | None = None,
        wait_seconds: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = parts.netloc.encode("ascii")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.idle_seconds = idle_seconds
        self.wait_seconds = wait_seconds
        self._idle: list[_Connection] = []
        self._limit = limit
        self._share = min(share or limit, limit)
        self._in_use = 0
        self._held: dict[str, int] = {}  # owner -> connections in use; no entry when none
        self._waiting: deque[tuple[str, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self._in_use

    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        read_timeout: float,
        owner: str = "",
    ) -> UpstreamResponse:
        """Send a request and wait for the response's head; `target` is the path and query, as
        the client encoded them; `owner` is whose share of the connections it counts against."""
        held = self._held.get(owner, 0)
        if held < self._share and self._in_use < self._limit:
            self._held[owner] = held + 1
            self._in_use += 1
        else:
            await self._wait_for_slot(owner)
        try:
            conn = await self._connection()
        except BaseException:
            self._free_slot(owner)
            raise
        conn.owner = owner
        try:
            head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", self.host_header, b"\r\n"]
            for name, value in headers:
                head += (name, b": ", value, b"\r\n")
            await conn.send(b"".join(head), body, read_timeout)
            while not conn.head_done:
                if conn.error is not None:
                    raise conn.error
                if conn.closed:
                    raise Disconnected("the service closed the connection")
                await conn.wait(read_timeout)
        except BaseException:
            self._give_back(conn, False)
            raise
        return UpstreamResponse(self, conn, read_timeout, head_only=method == "HEAD")

    async def _wait_for_slot(self, owner: str) -> None:
        """Queue until `_free_slot` hands this owner a slot, at most `wait_seconds`."""
        waiter = asyncio.get_running_loop().create_future()
        entry = (owner, waiter)
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._free_slot(owner)  # handed a slot just as the wait ended: pass it on
            else:
                self._waiting.remove(entry)
            if isinstance(exc, TimeoutError):
                raise PoolBusy(f"no free connection within {self.wait_seconds} s") from None
            raise

    def _free_slot(self, owner: str) -> None:
        held = self._held[owner] - 1
        if held:
            self._held[owner] = held
        else:
            del self._held[owner]
        self._in_use -= 1
        if self._waiting:
            self._hand_on()

    def _hand_on(self) -> None:
        """Give the free slot to the first waiter whose owner is under its share."""
        for entry in self._waiting:
            owner, waiter = entry
            held = self._held.get(owner, 0)
            if held < self._share:
                self._waiting.remove(entry)
                self._held[owner] = held + 1
                self._in_use += 1
                waiter.set_result(None)
                return

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.idle_seconds:
                return conn
            conn.abort()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl)
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect: {type(exc).__name__}") from exc
        return conn

    def _give_back(self, conn: _Connection, reusable: bool) -> None:
        conn.in_use = False
        if reusable and len(self._idle) < self._limit:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.abort()
        self._free_slot(conn.owner)

    def close(self) -> None:
        """Close the idle connections (at shutdown)."""
        for conn in self._idle:
            conn.abort()
        self._idle.clear()
