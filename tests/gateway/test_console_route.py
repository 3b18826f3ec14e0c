"""The console's route: "/" takes every path no service takes, and it signs people in itself."""

from __future__ import annotations

from gateway.config import Upstream
from gateway.openapi import OpenAPICache
from gateway.routes import RouteTable
from servicekit.clock import FrozenClock

IDENTITY = Upstream(name="identity", url="http://127.0.0.1:1", prefixes=("/oauth", "/v1/identity"))
CONSOLE = Upstream(name="console", url="http://127.0.0.1:2", prefixes=("/",), signs_in_itself=True)


def test_services_keep_their_prefixes_and_the_console_takes_the_rest() -> None:
    table = RouteTable([CONSOLE, IDENTITY])
    assert table.match("/v1/identity/people") == (IDENTITY, "/v1/identity")
    assert table.match("/oauth/token") == (IDENTITY, "/oauth")
    assert table.match("/") == (CONSOLE, "/")
    assert table.match("/concerns/new") == (CONSOLE, "/")
    assert table.match("/v1/identityx") == (CONSOLE, "/")


def test_no_openapi_document_is_fetched_from_the_console() -> None:
    cache = OpenAPICache(
        [IDENTITY, CONSOLE], RouteTable([IDENTITY, CONSOLE]), clock=FrozenClock(), ttl=60, timeout=1
    )
    assert [u.name for u in cache.upstreams] == ["identity"]


def test_a_service_is_not_exempt_from_the_token_check() -> None:
    assert not IDENTITY.signs_in_itself
