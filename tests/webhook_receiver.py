"""A real webhook receiver on 127.0.0.1 for tests: an HTTP server in a thread that records every
request, answers as it is told (a status per request, a redirect, or holding the request until
released), and processes each `webhook-id` once, as a receiver should (de-duplication by id).

    with WebhookReceiver() as receiver:
        register(receiver.url)
        ...
        receiver.wait_for(lambda: receiver.processed, timeout=10)

Waiting is on a condition the server thread signals (bounded), never a sleep. `Names` is the
resolver tests give the outbound guard (servicekit.outbound): names map to the addresses a test
sets, nothing goes to DNS.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from servicekit import outbound

T = TypeVar("T")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def verify(self, secret: str) -> Any:
        """Verify as the MLE would, with the standardwebhooks library (raises if it does not verify)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class WebhookReceiver:
    # Statuses to answer, one per request in turn; then `default_status`.
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    redirect_to: str | None = None
    # Requests are held (no answer) while this is set; `release()` lets them go.
    holding: bool = False
    requests: list[Received] = field(default_factory=list)
    # What the receiver acted on: each webhook-id once (a repeat is acknowledged and dropped).
    processed: dict[str, Received] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/consent"

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                with receiver._cond:
                    receiver.requests.append(got)
                    receiver._cond.notify_all()
                    receiver._cond.wait_for(lambda: not receiver.holding, timeout=30)
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
                    if 200 <= status < 300 and got.webhook_id not in receiver.processed:
                        receiver.processed[got.webhook_id] = got
                    receiver._cond.notify_all()
                self.send_response(status)
                if receiver.redirect_to and 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def release(self) -> None:
        with self._cond:
            self.holding = False
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Until `predicate()` is true (re-checked at each request), at most `timeout` seconds."""
        with self._cond:
            result = self._cond.wait_for(predicate, timeout=timeout)
        assert result, f"the receiver did not see it within {timeout}s: {len(self.requests)} requests"
        return result


class Names:
    """A resolver for tests: names map to addresses given here (IP literals and `localhost` resolve
    as themselves); nothing goes to DNS."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    async def __call__(self, host: str, port: int) -> list[outbound.Address]:
        if host in self.names:
            return [ipaddress.ip_address(self.names[host])]
        return await outbound.system_resolver(use_dns=False)(host, port)


__all__ = ["Names", "Received", "WebhookReceiver", "WebhookVerificationError"]
